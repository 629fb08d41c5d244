//! The server's one model and the bounded queue in front of it: requests wait in the queue
//! (a full queue turns new ones away at once), and the model's thread takes whatever waits,
//! up to the batch size, and summarizes it together — requests with the same options in
//! one `summarize_many` call, so concurrent requests share forward passes. The thread
//! answers every request it has taken before it ends, which it does when every sender is
//! gone and the queue is empty.

use crate::input::{Article, InputError};
use crate::output::Summary;
use crate::summarize::{Given, Summarizer, SummaryOptions};
use anyhow::Result;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long the model's thread waits, after taking a request, for others to join its batch:
/// clients that were answered together ask again together, a millisecond or so apart.
const GATHER: Duration = Duration::from_millis(20);

/// Why a request got no summary.
#[derive(Debug)]
pub enum Failure {
    /// The options cannot work with this model (see `Summarizer::check_options`).
    Request(String),
    /// The article cannot be summarized as given (empty, no prose).
    Input(String),
    /// The model failed, or what it wrote is no summary.
    Model(String),
}

/// The model's answer to one request, and how many requests it was decoded with (itself
/// included).
#[derive(Debug)]
pub struct Answer {
    pub outcome: Result<Summary, Failure>,
    pub together: usize,
}

/// One request for the model's thread: the article, its options, and where the answer goes.
struct Job {
    article: Article,
    options: SummaryOptions,
    answer: oneshot::Sender<Answer>,
}

/// Requests waiting for the model and being summarized, for `GET /health`.
#[derive(Debug, Default)]
pub struct Load {
    pub waiting: AtomicUsize,
    pub running: AtomicUsize,
}

/// The sending end of the queue, shared by the request handlers.
#[derive(Clone)]
pub struct Queue {
    sender: SyncSender<Job>,
    load: Arc<Load>,
    /// The model's name.
    model: Arc<str>,
}

/// Why a request was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// As many requests wait as the queue holds.
    Full,
    /// The model's thread has ended.
    Closed,
}

impl Queue {
    /// Queues `article` with `options`; the answer arrives on the returned receiver.
    pub fn submit(
        &self,
        article: Article,
        options: SummaryOptions,
    ) -> Result<oneshot::Receiver<Answer>, Refused> {
        let (answer, receiver) = oneshot::channel();
        // Counted before it is sent, so that the model's thread never takes it first.
        self.load.waiting.fetch_add(1, Ordering::SeqCst);
        let job = Job {
            article,
            options,
            answer,
        };
        match self.sender.try_send(job) {
            Ok(()) => Ok(receiver),
            Err(error) => {
                self.load.waiting.fetch_sub(1, Ordering::SeqCst);
                Err(match error {
                    TrySendError::Full(_) => Refused::Full,
                    TrySendError::Disconnected(_) => Refused::Closed,
                })
            }
        }
    }

    pub fn load(&self) -> &Load {
        &self.load
    }

    /// The name of the model that answers.
    pub fn model(&self) -> &str {
        &self.model
    }
}

/// Starts the model's thread: `load` makes the summarizer there (a model stays on the
/// thread that loaded it), and `depth` requests may wait. Returns once the model has
/// loaded, or with why it could not.
pub fn start(
    load: impl FnOnce() -> Result<Summarizer> + Send + 'static,
    depth: usize,
    batch_size: usize,
) -> Result<(Queue, JoinHandle<()>)> {
    let (sender, receiver) = mpsc::sync_channel::<Job>(depth);
    let (loaded, outcome) = mpsc::channel::<Result<String>>();
    let counts = Arc::new(Load::default());
    let shared = counts.clone();
    let thread = std::thread::Builder::new()
        .name("model".into())
        .spawn(move || {
            let summarizer = match load() {
                Ok(summarizer) => summarizer,
                Err(error) => {
                    let _ = loaded.send(Err(error));
                    return;
                }
            };
            let _ = loaded.send(Ok(summarizer.spec().name.clone()));
            serve_jobs(summarizer, &receiver, batch_size, &shared);
        })?;
    match outcome.recv() {
        Ok(Ok(model)) => Ok((
            Queue {
                sender,
                load: counts,
                model: model.into(),
            },
            thread,
        )),
        Ok(Err(error)) => Err(error),
        Err(_) => anyhow::bail!("the model's thread ended while loading"),
    }
}

/// The model's thread: takes the waiting requests, up to `batch_size` of them, summarizes
/// them, answers each, and goes on until the queue is closed and empty.
fn serve_jobs(
    mut summarizer: Summarizer,
    receiver: &Receiver<Job>,
    batch_size: usize,
    load: &Load,
) {
    while let Ok(first) = receiver.recv() {
        let mut jobs = vec![first];
        let until = Instant::now() + GATHER;
        while jobs.len() < batch_size {
            let left = until.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(job) => jobs.push(job),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        load.waiting.fetch_sub(jobs.len(), Ordering::SeqCst);
        load.running.fetch_add(jobs.len(), Ordering::SeqCst);
        for group in same_options(jobs) {
            let count = group.len();
            summarize_group(&mut summarizer, group);
            load.running.fetch_sub(count, Ordering::SeqCst);
        }
    }
}

/// `jobs` in groups of equal options, each group in the order its first job came.
fn same_options(jobs: Vec<Job>) -> Vec<Vec<Job>> {
    let mut groups: Vec<((String, Given), Vec<Job>)> = Vec::new();
    for job in jobs {
        // The serialized options, as a batch record compares them, and which of them the
        // request set (which the serialized form leaves out, and which decides an
        // encoder-decoder's settings).
        let serialized = serde_json::to_string(&job.options).expect("options serialize");
        let key = (serialized, job.options.given);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, group)) => group.push(job),
            None => groups.push((key, vec![job])),
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// Summarizes one group of requests with equal options together and answers each.
fn summarize_group(summarizer: &mut Summarizer, group: Vec<Job>) {
    let (articles, answers): (Vec<Article>, Vec<_>) = group
        .into_iter()
        .map(|job| (job.article, (job.answer, job.options)))
        .unzip();
    let (options, together) = (&answers[0].1, answers.len());
    if let Err(error) = summarizer.check_options(options) {
        for (answer, _) in answers {
            let outcome = Err(Failure::Request(error.0.clone()));
            let _ = answer.send(Answer { outcome, together });
        }
        return;
    }
    let results = match summarizer.summarize_many(&articles, options) {
        Ok(results) => results,
        Err(error) => {
            let reason = format!("{error:#}");
            articles
                .iter()
                .map(|_| Err(anyhow::anyhow!("{reason}")))
                .collect()
        }
    };
    for ((answer, _), result) in answers.into_iter().zip(results) {
        let outcome = result.map_err(|error| {
            let reason = format!("{error:#}").replace('\n', " ");
            if error.is::<InputError>() {
                Failure::Input(reason)
            } else {
                Failure::Model(reason)
            }
        });
        // A client that went away no longer waits for its answer.
        let _ = answer.send(Answer { outcome, together });
    }
}
