//! Per-kind compression dictionaries, trained from a kind's first objects while the writer
//! goes on (the samples held meanwhile are bounded), and stored for every later snapshot.

use super::*;

/// A dictionary being trained: `None` when zstd could not make one of the samples.
pub(super) type Training = tokio::sync::oneshot::Receiver<Option<(EncoderDictionary, Vec<u8>)>>;

/// Samples of a kind held, while its dictionary is trained, before the writer waits for it.
pub(super) const MAX_SAMPLES_WHILE_TRAINING: usize = 8 * DICTIONARY_SAMPLES;

impl SnapshotWriter {
    /// Starts training a kind's dictionary on its samples so far, on the rayon pool.
    pub(super) fn start_training(&mut self, kind: ObjectKind) {
        let bytes: Vec<Vec<u8>> = self
            .samples
            .get(&kind)
            .map(|s| s.iter().map(|(_, b)| b.clone()).collect())
            .unwrap_or_default();
        let (done, training) = tokio::sync::oneshot::channel();
        rayon::spawn(move || {
            let trained =
                compress::train(&bytes).and_then(|d| Some((EncoderDictionary::new(&d)?, d)));
            // The writer may be gone (dropped without a commit); then nobody needs it.
            let _ = done.send(trained);
        });
        self.training.insert(kind, training);
    }

    /// Waits for a kind's dictionary, if it is being trained, and writes its samples.
    pub(super) async fn finish_training(&mut self, kind: ObjectKind) -> Result<()> {
        if let Some(training) = self.training.get_mut(&kind) {
            let trained = training.await.unwrap_or(None);
            self.trained(kind, trained).await?;
        }
        Ok(())
    }

    /// Stores a kind's new dictionary (or notes that it has none), then writes the samples
    /// held for it.
    pub(super) async fn trained(
        &mut self,
        kind: ObjectKind,
        trained: Option<(EncoderDictionary, Vec<u8>)>,
    ) -> Result<()> {
        self.training.remove(&kind);
        match trained {
            Some((encoder, dictionary)) => {
                self.repo
                    .store
                    .put_dictionary(&self.tenant, kind.name(), Bytes::from(dictionary))
                    .await?;
                self.encoders.insert(kind, encoder);
            }
            None => {
                self.untrainable.insert(kind);
            }
        }
        for (id, canonical) in self.samples.remove(&kind).unwrap_or_default() {
            self.queue(id, canonical, Some(kind)).await?;
        }
        Ok(())
    }

    /// Writes the samples of kinds that did not reach a dictionary's worth, without one.
    pub(super) async fn drain_samples(&mut self) -> Result<()> {
        let training: Vec<ObjectKind> = self.training.keys().copied().collect();
        for kind in training {
            self.finish_training(kind).await?;
        }
        for (kind, samples) in std::mem::take(&mut self.samples) {
            self.untrainable.insert(kind);
            for (id, canonical) in samples {
                self.queue(id, canonical, Some(kind)).await?;
            }
        }
        Ok(())
    }
}
