//! VM pages.
