//! How a run's requests reach Graph: JSON ones through `$batch` (twenty a request, several
//! in flight), a stream (a branding image, a `data:` URI body) in a request of its own, since
//! its bytes are not a JSON body.

use dirvault_graph::{BatchRequest, BatchResponse};
use futures::StreamExt;
use serde_json::{Map, Value, json};

use super::Runner;
use crate::{Error, Result};

impl Runner<'_> {
    /// Sends requests through `$batch`, several batches in flight, and streams alone;
    /// answers in order.
    pub(super) async fn send(&self, requests: Vec<BatchRequest>) -> Result<Vec<BatchResponse>> {
        // A stream (a branding image) is bytes, not JSON: it goes in a request of its own.
        let (streams, requests): (Vec<_>, Vec<_>) = requests
            .into_iter()
            .enumerate()
            .partition(|(_, r)| r.body.as_ref().is_some_and(is_stream));
        let mut answers = self
            .send_batched(requests.iter().map(|(_, r)| r.clone()).collect())
            .await?
            .into_iter()
            .zip(requests.iter().map(|(i, _)| *i))
            .map(|(a, i)| (i, a))
            .collect::<Vec<_>>();
        for (i, r) in streams {
            answers.push((i, self.send_alone(r).await?));
        }
        answers.sort_by_key(|(i, _)| *i);
        Ok(answers.into_iter().map(|(_, a)| a).collect())
    }

    /// One request outside `$batch`, its Graph error as the answer (transport errors stop).
    async fn send_alone(&self, r: BatchRequest) -> Result<BatchResponse> {
        let method = dirvault_graph::Method::from_bytes(r.method.as_bytes())
            .map_err(|_| Error::Options(format!("{:?} is not an HTTP method", r.method)))?;
        let mut headers = Map::new();
        let (status, body) = match self.client.send(method, &r.url, r.body.as_ref(), &[]).await {
            Ok(answer) => (answer.status, answer.body),
            Err(dirvault_graph::Error::Graph {
                status,
                code,
                message,
                request_id,
                ..
            }) => {
                // As a `$batch` answer carries it: the report names the request for support.
                headers.insert("request-id".into(), json!(request_id));
                (status, json!({"error": {"code": code, "message": message}}))
            }
            Err(e) => return Err(e.into()),
        };
        Ok(BatchResponse {
            id: r.id,
            status,
            headers,
            body,
        })
    }

    async fn send_batched(&self, requests: Vec<BatchRequest>) -> Result<Vec<BatchResponse>> {
        let groups: Vec<Vec<BatchRequest>> = requests
            .chunks(dirvault_graph::MAX_BATCH)
            .map(<[BatchRequest]>::to_vec)
            .collect();
        let answers: Vec<_> = futures::stream::iter(groups)
            .map(|g| async move { self.client.batch(&g).await })
            .buffered(self.in_flight)
            .collect()
            .await;
        let mut out = Vec::new();
        for a in answers {
            out.extend(a?);
        }
        Ok(out)
    }
}

/// Whether a step's body is a stream (`data:` URI) rather than JSON.
fn is_stream(body: &Value) -> bool {
    body.as_str()
        .is_some_and(|b| dirvault_graph::stream::from_data_uri(b).is_some())
}
