//! What a dialect's credential check tells the server's access log: the app that called.
//! The server puts a [`CallerNote`] in a request's extensions when it logs requests; the
//! dialects fill it in when they know the caller; the server reads it once the answer is
//! ready. A plain type, so that the dialects can fill it without knowing the server.

use std::sync::OnceLock;

#[derive(Debug, Default)]
pub struct CallerNote(OnceLock<String>);

impl CallerNote {
    /// The calling app's public id (`cli_…`, an app key); the first writer wins.
    pub fn set(&self, app_id: &str) {
        let _ = self.0.set(app_id.to_string());
    }
    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}
