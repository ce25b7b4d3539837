//! Server streams that end when the API shuts down.
//!
//! A graceful shutdown waits for requests in flight, and a wallboard or an agent's event
//! stream never ends by itself. Every stream task therefore also waits on [`Stop`]; when the
//! server is asked to stop, each stream sends a final `UNAVAILABLE` and closes, and the server
//! can finish.

use std::pin::Pin;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::Status;

/// A boxed server stream.
pub(crate) type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// Messages queued per stream before its task waits for the client.
pub(crate) const STREAM_BUFFER: usize = 64;

/// The API's shutdown, as seen by stream tasks.
#[derive(Clone, Debug)]
pub(crate) struct Stop(watch::Receiver<bool>);

impl Stop {
    /// A stop signal and its trigger (send `true` to stop).
    pub(crate) fn new() -> (watch::Sender<bool>, Stop) {
        let (tx, rx) = watch::channel(false);
        (tx, Stop(rx))
    }

    /// Completes once the API stops (or its trigger is gone).
    pub(crate) async fn requested(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// The last message of a stream cut by the shutdown.
    pub(crate) fn status() -> Status {
        Status::unavailable("the API is shutting down; reconnect (to another instance) to continue")
    }
}

/// A stream of what `rx` receives, until its senders are gone, the client leaves or the API
/// stops.
pub(crate) fn forward<T: Send + 'static>(
    mut rx: mpsc::Receiver<T>,
    mut stop: Stop,
) -> BoxStream<T> {
    let (tx, out) = mpsc::channel(STREAM_BUFFER);
    tokio::spawn(async move {
        loop {
            let item = tokio::select! {
                item = rx.recv() => item,
                () = tx.closed() => return,
                () = stop.requested() => {
                    let _ = tx.send(Err(Stop::status())).await;
                    return;
                }
            };
            let Some(item) = item else { return };
            if tx.send(Ok(item)).await.is_err() {
                return;
            }
        }
    });
    Box::pin(ReceiverStream::new(out))
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt as _;

    use super::*;

    #[tokio::test]
    async fn a_forwarded_stream_ends_with_unavailable_when_the_api_stops() {
        let (trigger, stop) = Stop::new();
        let (tx, rx) = mpsc::channel(4);
        let mut stream = forward(rx, stop);
        tx.send(1).await.unwrap();
        assert_eq!(stream.next().await.unwrap().unwrap(), 1);
        trigger.send(true).unwrap();
        let end = stream.next().await.unwrap().unwrap_err();
        assert_eq!(end.code(), tonic::Code::Unavailable);
        assert!(stream.next().await.is_none());
        drop(tx);
    }

    #[tokio::test]
    async fn a_forwarded_stream_ends_quietly_when_its_sender_is_gone() {
        let (_trigger, stop) = Stop::new();
        let (tx, rx) = mpsc::channel::<u8>(4);
        let mut stream = forward(rx, stop);
        drop(tx);
        assert!(stream.next().await.is_none());
    }
}
