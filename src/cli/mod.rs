//! What the `clearway` command does besides serving: importing SRAs from files.

pub mod sra_import;
