//! The console's form extractor: a form that does not parse is answered with an error page (a
//! person is reading), not the API's JSON error.

use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::Visitor;
use super::layout::error_page;

/// A posted form, or a 400 page saying what is wrong with it.
pub(crate) struct PageForm<T>(pub(crate) T);

impl<T, S> FromRequest<S> for PageForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let visitor = req.extensions().get::<Visitor>().cloned();
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(form)) => Ok(Self(form)),
            Err(rejection) => Err(error_page(
                visitor.as_ref(),
                rejection.status(),
                &format!("The form could not be read: {}", rejection.body_text()),
            )
            .into_response()),
        }
    }
}
