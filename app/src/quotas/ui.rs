//! Quota pages (in progress).
