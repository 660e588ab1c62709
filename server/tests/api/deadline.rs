//! A test that hangs on purpose, for the check in scripts/test.sh that the test runner ends a
//! hung test and names it.

/// Hangs only in nextest's `deadline-check` profile (.config/nextest.toml), whose default
/// filter selects it and whose deadline is a second; every other profile's default filter
/// leaves it out, and elsewhere (`cargo test -- --include-ignored`) it returns at once.
#[test]
#[ignore = "hangs on purpose: scripts/test.sh runs it to check the test deadline"]
fn hangs_until_the_runner_ends_it() {
    if std::env::var("NEXTEST_PROFILE").as_deref() == Ok("deadline-check") {
        loop {
            std::thread::park();
        }
    }
}
