//! Page data that the server loads while rendering and hands to the browser with the page.
//!
//! Leptos' default resource codec decodes that data from a string, while server-function
//! answers are decoded from bytes: two copies of the JSON decoder for every wire type in
//! the WASM. Resources here decode from bytes too, so both share one.

use codee::{Decoder, Encoder};
use leptos::prelude::Resource;
use serde::{de::DeserializeOwned, Serialize};
use std::future::Future;

/// JSON, decoded from bytes like server-function answers.
pub struct WireJson;

impl<T: Serialize> Encoder<T> for WireJson {
    type Error = serde_json::Error;
    type Encoded = String;

    fn encode(value: &T) -> Result<String, serde_json::Error> {
        serde_json::to_string(value)
    }
}

impl<T: DeserializeOwned> Decoder<T> for WireJson {
    type Error = serde_json::Error;
    type Encoded = str;

    fn decode(json: &str) -> Result<T, serde_json::Error> {
        serde_json::from_slice(json.as_bytes())
    }
}

/// A resource carried as [`WireJson`].
pub type WireResource<T> = Resource<T, WireJson>;

/// Loads `fetcher(source())` on the server while the page renders and again whenever
/// `source` changes, like `Resource::new`.
#[track_caller]
pub fn wire_resource<T, S, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> WireResource<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    S: Send + Sync + Clone + PartialEq + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    Resource::new_with_options(source, fetcher, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

    #[test]
    fn page_data_reads_back_as_written() {
        let values: [Result<Vec<String>, AppError>; 2] = [
            Ok(vec!["ünïcode \"quoted\"".to_owned()]),
            Err(AppError::NotFound {
                what: "VM".to_owned(),
            }),
        ];
        for value in values {
            let json = <WireJson as Encoder<_>>::encode(&value).unwrap();
            let back: Result<Vec<String>, AppError> = WireJson::decode(&json).unwrap();
            assert_eq!(back, value);
        }
        assert!(<WireJson as Decoder<Result<Vec<String>, AppError>>>::decode("{").is_err());
    }
}
