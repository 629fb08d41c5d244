//! A local stand-in for the Hugging Face Hub: serves files at the hub's URL layout for
//! hf-hub's downloads (ranged GETs, ETag and commit headers). Shared by the fetch unit
//! tests and the integration tests.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::net::{TcpListener, TcpStream};

/// Lower-case hex sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Serves `files` at `/{repo}/resolve/main/{name}` as the hub does (ranged GETs, the ETag
/// and commit headers), each ETag the sha256 of `etags`' content for it, else its own, and
/// their listing at `/api/models/{repo}/revision/main`; anything else is 404. Returns the
/// endpoint.
pub fn serve(
    repo: &str,
    commit: &str,
    files: HashMap<String, Vec<u8>>,
    etags: HashMap<String, Vec<u8>>,
) -> String {
    let (repo, commit) = (repo.to_string(), commit.to_string());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &repo, &commit, &files, &etags);
        }
    });
    endpoint
}

fn answer(
    mut stream: TcpStream,
    repo: &str,
    commit: &str,
    files: &HashMap<String, Vec<u8>>,
    etags: &HashMap<String, Vec<u8>>,
) -> io::Result<()> {
    let mut reader = io::BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut range = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("range") {
                range = value.trim().strip_prefix("bytes=").map(str::to_string);
            }
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or_default();
    if path == format!("/api/models/{repo}/revision/main") {
        let siblings: Vec<String> = files
            .keys()
            .map(|name| format!("{{\"rfilename\":\"{name}\"}}"))
            .collect();
        let body = format!(
            "{{\"sha\":\"{commit}\",\"siblings\":[{}]}}",
            siblings.join(",")
        );
        return write!(
            stream,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
    }
    let prefix = format!("/{repo}/resolve/main/");
    let Some(body) = path.strip_prefix(&prefix).and_then(|name| files.get(name)) else {
        return stream.write_all(
            b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
    };
    let name = path.strip_prefix(&prefix).unwrap();
    let etag = sha256(etags.get(name).unwrap_or(body));
    let last = body.len() - 1;
    let (start, end) = match range.as_deref().and_then(|r| r.split_once('-')) {
        Some((start, end)) => (
            start.parse().unwrap_or(0),
            end.parse().unwrap_or(last).min(last),
        ),
        None => (0, last),
    };
    let chunk = &body[start..=end];
    write!(
        stream,
        "HTTP/1.1 206 Partial Content\r\netag: \"{etag}\"\r\nx-repo-commit: {commit}\r\n\
         content-range: bytes {start}-{end}/{}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len(),
        chunk.len()
    )?;
    stream.write_all(chunk)
}
