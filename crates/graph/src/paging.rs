//! Collections read a page at a time (`@odata.nextLink`), delta rounds (`@odata.deltaLink`),
//! each stream one page ahead of its reader.

use crate::*;

/// One page of a collection or delta round.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The page's items, as Graph returned them.
    pub items: Vec<Value>,
    /// `@odata.nextLink`: more pages follow.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`: the last page of a delta round; store it for the next round.
    pub delta_link: Option<String>,
}

impl GraphClient {
    pub(crate) async fn page(&self, url: &str, headers: &[(&str, &str)]) -> Result<Page> {
        let body = self.send(Method::GET, url, None, headers).await?.body;
        let invalid = |reason: &str| Error::InvalidResponse {
            tenant: self.inner.tenant.clone(),
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let Value::Object(mut map) = body else {
            return Err(invalid("a collection response is not a JSON object"));
        };
        let items = match map.remove("value") {
            Some(Value::Array(items)) => items,
            _ => return Err(invalid("a collection response has no \"value\" array")),
        };
        let link = |map: &Map<String, Value>, name: &str| {
            map.get(name).and_then(Value::as_str).map(str::to_owned)
        };
        let page = Page {
            items,
            next_link: link(&map, "@odata.nextLink"),
            delta_link: link(&map, "@odata.deltaLink"),
        };
        if page.next_link.is_some() && page.delta_link.is_some() {
            return Err(invalid(
                "a page carries both @odata.nextLink and @odata.deltaLink",
            ));
        }
        Ok(page)
    }

    /// The pages of a collection (or a delta round), following `@odata.nextLink` exactly as
    /// given until a page has none. Each page's successor is fetched while the caller works on
    /// it (a listing is a chain of round trips: this keeps it moving), so the stream holds at
    /// most three pages: the caller's, one waiting, one arriving. Nothing is fetched before the
    /// first poll, and nothing more once the stream is dropped.
    pub fn pages(&self, path_or_url: &str) -> impl Stream<Item = Result<Page>> + Send + 'static {
        self.pages_with(path_or_url, &[])
    }

    /// The pages of a delta round, as [`GraphClient::pages`], asking with
    /// `Prefer: return=minimal` for only the changed properties of updated objects (without
    /// it Graph returns every selected property of each: api/user-delta.md,
    /// api/group-delta.md, "Optional request headers"). A service that ignores the header
    /// and answers in full is read right too, only with more bytes.
    pub fn delta_pages(
        &self,
        path_or_url: &str,
    ) -> impl Stream<Item = Result<Page>> + Send + 'static {
        self.pages_with(path_or_url, &[("prefer", "return=minimal")])
    }

    pub(crate) fn pages_with(
        &self,
        path_or_url: &str,
        headers: &'static [(&'static str, &'static str)],
    ) -> impl Stream<Item = Result<Page>> + Send + 'static {
        enum State {
            Start(GraphClient, Result<String>),
            Running(tokio::sync::mpsc::Receiver<Result<Page>>),
        }
        let start = State::Start(self.clone(), self.url(path_or_url));
        futures::stream::unfold(start, move |state| async move {
            let mut pages = match state {
                State::Running(pages) => pages,
                State::Start(client, first) => {
                    let (tx, pages) = tokio::sync::mpsc::channel(1);
                    tokio::spawn(async move {
                        let mut next = Some(first);
                        while let Some(url) = next.take() {
                            let page = match url {
                                Ok(url) => client.page(&url, headers).await,
                                Err(e) => Err(e),
                            };
                            if let Ok(page) = &page {
                                next = page.next_link.as_deref().map(|n| client.url(n));
                            }
                            if tx.send(page).await.is_err() {
                                break; // the caller stopped listening
                            }
                        }
                    });
                    pages
                }
            };
            pages.recv().await.map(|page| (page, State::Running(pages)))
        })
    }

    /// Every item of a collection whose first page came another way (e.g. inside a `$batch`
    /// answer): its `value`, then every further page by `@odata.nextLink`.
    ///
    /// # Errors
    /// As [`GraphClient::get`], for the further pages.
    pub async fn rest_of(&self, first_page: &Value) -> Result<Vec<Value>> {
        let mut items = first_page["value"].as_array().cloned().unwrap_or_default();
        let mut next = first_page["@odata.nextLink"].as_str().map(str::to_owned);
        while let Some(link) = next {
            let page = self.get(&link).await?;
            items.extend(page["value"].as_array().cloned().unwrap_or_default());
            next = page["@odata.nextLink"].as_str().map(str::to_owned);
        }
        Ok(items)
    }
}
