//! The output half of [`super::run`]: reading the child's pipes as bounded lines, and the
//! sink that writes them to the job's log file (up to its cap) and broadcasts them. It must
//! not know about processes or signals; `run` owns those.

use std::io;
use std::path::{Path, PathBuf};

use tokio::fs::File;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, BufWriter,
};
use tokio::sync::{broadcast, mpsc};

use super::{LogLine, Output, Stream};

/// Longer lines are cut here: one runaway line must not grow a buffer without bound.
pub(super) const MAX_LINE: usize = 64 * 1024;

/// Reads one pipe line by line into `tx` until EOF.
pub(super) async fn read_lines<R: AsyncRead + Unpin>(
    pipe: R,
    stream: Stream,
    tx: mpsc::Sender<(Stream, String)>,
) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        // `take` bounds this one read; `lines()` would buffer a newline-less flood whole.
        match (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(?stream, error = %e, "cannot read a job's output");
                return;
            }
        }
        let cut = buf.last() != Some(&b'\n') && buf.len() >= MAX_LINE;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        if tx
            .send((stream, String::from_utf8_lossy(&buf).into_owned()))
            .await
            .is_err()
        {
            return;
        }
        if cut && skip_line(&mut reader).await.is_err() {
            return;
        }
    }
}

/// Discards input up to and including the next newline, without buffering it.
async fn skip_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<()> {
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(());
        }
        let (used, found) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        reader.consume(used);
        if found {
            return Ok(());
        }
    }
}

/// The log file (opened at the first line, kept until truncated or broken) and the live
/// broadcast.
pub(super) struct Sink {
    pub(super) job_id: i64,
    lines: broadcast::Sender<LogLine>,
    file: Option<BufWriter<File>>,
    /// False once the file is closed for good (truncated, or a write failed).
    open: bool,
    path: PathBuf,
    /// The file's length when this run opened it (earlier attempts' output comes first).
    base: u64,
    written: u64,
    max: u64,
    /// The database's copy (PostgreSQL), used instead of the file: where to, and the
    /// shipper once the first line came.
    ship_to: Option<crate::jobs::logs::ShipTo>,
    ship: Option<crate::jobs::logs::Shipper>,
}

impl Sink {
    /// Nothing touches the disk yet: a command that prints nothing leaves no log file (and
    /// costs no file creation, which dominated the cost of short commands).
    pub(super) fn new(out: Output) -> Sink {
        Sink {
            job_id: out.job_id,
            lines: out.lines,
            file: None,
            open: true,
            path: out.log_path,
            base: 0,
            written: 0,
            max: out.max_log_bytes,
            ship_to: out.ship,
            ship: None,
        }
    }

    /// The log file, opened (with its directory) on first use.
    async fn file(&mut self) -> Option<&mut BufWriter<File>> {
        if self.file.is_none() && self.open {
            let opened = async {
                if let Some(parent) = self.path.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                open_append(&self.path).await
            }
            .await;
            match opened {
                Ok(f) => {
                    self.base = f.metadata().await.map(|m| m.len()).unwrap_or(0);
                    self.file = Some(BufWriter::new(f));
                }
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot open a job's log; its output is only broadcast");
                    self.open = false;
                }
            }
        }
        self.file.as_mut()
    }

    /// `idle`: no more lines are queued, so flush and let a reader of the file see them now
    /// (flushing per line would cost a blocking write per line on chatty commands).
    pub(super) async fn emit(&mut self, stream: Stream, mut line: String, idle: bool) {
        let end = match &self.ship_to {
            Some(to) => {
                if line.contains('\0') {
                    // PostgreSQL text cannot hold NUL.
                    line = line.replace('\0', "\u{FFFD}");
                }
                if self.ship.is_none() && self.open {
                    let to = to.clone();
                    self.ship = crate::jobs::logs::Shipper::start(&to).await;
                    match &self.ship {
                        Some(s) => self.base = s.base,
                        None => self.open = false,
                    }
                }
                self.ship_line(stream, &line)
            }
            None => self.write(stream, &line).await,
        };
        if idle {
            self.flush().await;
        }
        // No receivers is normal: nobody is watching this job live.
        let _ = self.lines.send(LogLine {
            job_id: self.job_id,
            stream,
            line,
            end,
        });
    }

    /// Appends the line; where it ends in the file, if it was written.
    async fn write(&mut self, stream: Stream, line: &str) -> Option<u64> {
        let prefix = match stream {
            Stream::Stdout => "",
            Stream::Stderr => "[stderr] ",
        };
        let len = (prefix.len() + line.len() + 1) as u64;
        let fits = self.written + len <= self.max;
        let max = self.max;
        let file = self.file().await?;
        let result = if fits {
            write_line(file, prefix, line).await
        } else {
            let note = format!("[log truncated at {max} bytes]");
            match write_line(file, "", &note).await {
                Ok(()) => file.flush().await,
                Err(e) => Err(e),
            }
        };
        if fits {
            self.written += len;
        }
        if let Err(e) = &result {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot write a job's log; dropping it");
        }
        let ok = fits && result.is_ok();
        if !ok {
            self.close();
        }
        ok.then_some(self.base + self.written)
    }

    /// [`Sink::write`] for the database: the same cap and truncation note, shipped.
    fn ship_line(&mut self, stream: Stream, line: &str) -> Option<u64> {
        if !self.open {
            return None;
        }
        let ship = self.ship.as_ref()?;
        let prefix = match stream {
            Stream::Stdout => "",
            Stream::Stderr => "[stderr] ",
        };
        let len = (prefix.len() + line.len() + 1) as u64;
        let at = self.base + self.written;
        if self.written + len <= self.max {
            ship.send(at, format!("{prefix}{line}\n"));
            self.written += len;
            Some(self.base + self.written)
        } else {
            ship.send(at, format!("[log truncated at {} bytes]\n", self.max));
            self.open = false;
            None
        }
    }

    fn close(&mut self) {
        self.file = None;
        self.open = false;
    }

    async fn flush(&mut self) {
        if let Some(file) = self.file.as_mut() {
            if let Err(e) = file.flush().await {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot write a job's log; dropping it");
                self.close();
            }
        }
    }

    pub(super) async fn finish(&mut self) {
        self.flush().await;
        self.close();
        if let Some(ship) = self.ship.take() {
            ship.finish().await;
        }
    }
}

async fn open_append(path: &Path) -> io::Result<File> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}

async fn write_line(file: &mut BufWriter<File>, prefix: &str, line: &str) -> io::Result<()> {
    file.write_all(prefix.as_bytes()).await?;
    file.write_all(line.as_bytes()).await?;
    file.write_all(b"\n").await
}
