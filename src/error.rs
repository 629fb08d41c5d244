//! The library's error for a request that cannot be done as asked: a bad pattern, an
//! output folder that holds the inputs, two articles that would be summarized to one file.
//! The command line reports it as a usage error (exit code 2).

/// A request that cannot be done as asked, and why, in one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);
