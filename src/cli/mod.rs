//! What the `clearway` command does besides serving: importing SRAs (and the sample's
//! requests) from files.

mod sample_requests;
pub mod sra_import;
