//! The serial console of a simulated VMI: a terminal that echoes what is typed and answers
//! each line, enough to see keystrokes go in and output come back.

use super::console::Link;

/// Serves one client until it leaves or the session ends.
pub async fn serve(link: &mut Link, name: &str) -> Option<()> {
    let mut terminal = Terminal::new(name);
    link.write(
        format!(
            "\r\nSimulated serial console of {name}\r\n{}",
            terminal.prompt
        )
        .into_bytes(),
    )
    .await?;
    loop {
        let input = link.read_some().await?;
        let echo = terminal.input(&input);
        if !echo.is_empty() {
            link.write(echo).await?;
        }
    }
}

struct Terminal {
    prompt: String,
    line: Vec<u8>,
    /// Whether the last byte was a CR, so that the LF of a CRLF does not end a second line.
    after_cr: bool,
}

impl Terminal {
    fn new(name: &str) -> Self {
        Terminal {
            prompt: format!("[{name}]$ "),
            line: Vec::new(),
            after_cr: false,
        }
    }

    /// What the terminal shows for `input`: printable bytes echoed, Enter answered with the
    /// line and a new prompt, Backspace and Delete erasing the last character.
    fn input(&mut self, input: &[u8]) -> Vec<u8> {
        let mut shown = Vec::new();
        for &byte in input {
            let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
            match byte {
                b'\n' if after_cr => {}
                b'\r' | b'\n' => {
                    shown.extend_from_slice(b"\r\n");
                    if !self.line.is_empty() {
                        shown.extend_from_slice(b"you typed: ");
                        shown.append(&mut self.line);
                        shown.extend_from_slice(b"\r\n");
                    }
                    shown.extend_from_slice(self.prompt.as_bytes());
                }
                0x08 | 0x7f if !self.line.is_empty() => {
                    // A UTF-8 character goes whole: its continuation bytes, then its first.
                    while self.line.pop().is_some_and(|last| last & 0xc0 == 0x80) {}
                    shown.extend_from_slice(b"\x08 \x08");
                }
                0x20..=0x7e | 0x80.. => {
                    self.line.push(byte);
                    shown.push(byte);
                }
                _ => {}
            }
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::Terminal;

    #[test]
    fn crlf_ends_one_line_and_erasing_takes_whole_characters() {
        let mut terminal = Terminal::new("demo");
        assert_eq!(
            terminal.input(b"ok\r\n"),
            b"ok\r\nyou typed: ok\r\n[demo]$ "
        );
        assert_eq!(terminal.input("aé".as_bytes()), "aé".as_bytes());
        assert_eq!(terminal.input(b"\x7f\x7f\x7f"), b"\x08 \x08\x08 \x08");
        assert_eq!(terminal.input(b"\r"), b"\r\n[demo]$ ");
    }
}
