//! Small URL helpers.

/// Percent-encodes everything but RFC 3986's unreserved characters, for query values and
/// path segments alike.
pub fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

/// The first value of `key` in a raw query string (`a=1&next=%2Fvms`), decoded exactly once
/// as `application/x-www-form-urlencoded`, as a browser's `URLSearchParams` does.
///
/// leptos_router 0.8's query map decodes its values a second time (leptos-rs/leptos#4731):
/// `next=%2Fvms%3Fname%3Da%2520b` would read as `/vms?name=a b`, and an escaped `%2F` in a
/// page to return to would become a real `/`.
pub fn query_value(search: &str, key: &str) -> Option<String> {
    search
        .strip_prefix('?')
        .unwrap_or(search)
        .split('&')
        .find_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name) == key).then(|| form_decode(value))
        })
}

/// `text` with `+` read as a space and each `%XX` escape decoded; a `%` that starts no
/// escape stays as it is.
fn form_decode(text: &str) -> String {
    let mut decoded = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&byte, tail)) = rest.split_first() {
        let escaped = match (byte, tail) {
            (b'%', [high, low, ..]) => hex_digit(*high).zip(hex_digit(*low)),
            _ => None,
        };
        match escaped {
            Some((high, low)) => {
                decoded.push(high * 16 + low);
                rest = &tail[2..];
            }
            None => {
                decoded.push(if byte == b'+' { b' ' } else { byte });
                rest = tail;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The value of one hexadecimal digit.
pub(crate) fn hex_digit(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::query_value;

    /// CSRF-05: the page to return to reads as it was sent, escapes kept for the path check.
    #[test]
    fn query_values_are_decoded_exactly_once() {
        let search = "?error=x&next=%2Fvms%3Fname%3Da%2520b&next=%2Fother";
        assert_eq!(
            query_value(search, "next").as_deref(),
            Some("/vms?name=a%20b")
        );
        assert_eq!(
            query_value("next=%2F%252F%252Fevil", "next").as_deref(),
            Some("/%2F%2Fevil")
        );
        assert_eq!(
            query_value("q=a+b%2Bc&empty", "q").as_deref(),
            Some("a b+c")
        );
        assert_eq!(query_value("q=a+b&empty", "empty").as_deref(), Some(""));
        assert_eq!(query_value("q=100%&r=%zz", "q").as_deref(), Some("100%"));
        assert_eq!(query_value("q=%zz", "q").as_deref(), Some("%zz"));
        assert_eq!(query_value("q=%E2%9C%93", "q").as_deref(), Some("✓"));
        assert_eq!(query_value("", "next"), None);
        assert_eq!(query_value("nextx=1", "next"), None);
    }
}
