//! The agency's relay, for the `rescreen` scenario's e-mail: it speaks the part of SMTP a
//! client without TLS or authentication uses (RFC 5321: EHLO, MAIL, RCPT, DATA, RSET, NOOP,
//! QUIT), accepts every message and remembers how many arrived, and when the last did.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the relay has accepted so far.
#[derive(Default)]
pub struct Accepted {
    pub messages: usize,
    pub last: Option<Instant>,
}

pub struct SmtpSink {
    pub accepted: Arc<Mutex<Accepted>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpSink {
    /// Listens on 127.0.0.1:`port` (the port the service was told of).
    pub async fn start(port: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let accepted: Arc<Mutex<Accepted>> = Arc::default();
        let counts = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counts = counts.clone();
                tokio::spawn(async move {
                    // A connection the client dropped ends its session; nothing to report.
                    let _ = session(stream, &counts).await;
                });
            }
        });
        Ok(Self { accepted, task })
    }

    pub fn messages(&self) -> (usize, Option<Instant>) {
        let accepted = self.accepted.lock().unwrap_or_else(|e| e.into_inner());
        (accepted.messages, accepted.last)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn session(stream: TcpStream, accepted: &Mutex<Accepted>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if lines.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let verb = line
            .get(..4)
            .map(|v| v.to_ascii_uppercase())
            .unwrap_or_default();
        match verb.as_slice() {
            b"EHLO" | b"HELO" => write.write_all(b"250 sink\r\n").await?,
            b"DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                // The message ends at a line holding a single dot (dot-stuffed before).
                loop {
                    line.clear();
                    if lines.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" || line == b".\n" {
                        break;
                    }
                }
                {
                    let mut accepted = accepted.lock().unwrap_or_else(|e| e.into_inner());
                    accepted.messages += 1;
                    accepted.last = Some(Instant::now());
                }
                write.write_all(b"250 accepted\r\n").await?;
            }
            b"QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            // MAIL, RCPT, RSET, NOOP: every sender and recipient is welcome.
            _ => write.write_all(b"250 OK\r\n").await?,
        }
    }
}
