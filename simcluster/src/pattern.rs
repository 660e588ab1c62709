//! The picture on a simulated VMI's screen: colour bars above the VM's name, large enough to
//! tell at a glance whose screen a viewer shows.

/// Full-intensity bars, in the order of the classic test card.
const BARS: [[u8; 3]; 8] = [
    [255, 255, 255],
    [255, 255, 0],
    [0, 255, 255],
    [0, 255, 0],
    [255, 0, 255],
    [255, 0, 0],
    [0, 0, 255],
    [0, 0, 0],
];
const BAND: [u8; 3] = [0x1c, 0x24, 0x38];
const INK: [u8; 3] = [255, 255, 255];

const GLYPH_WIDTH: usize = 5;
const GLYPH_HEIGHT: usize = 7;
/// A glyph and the column of space after it.
const CELL: usize = GLYPH_WIDTH + 1;

/// A screenful of RGB pixels, row by row.
pub struct Picture {
    pub width: u16,
    pub height: u16,
    pixels: Vec<[u8; 3]>,
}

impl Picture {
    pub fn render(name: &str) -> Self {
        let (width, height) = (640, 480);
        let (columns, rows) = (usize::from(width), usize::from(height));
        let band_top = rows * 2 / 3;
        let pixels = (0..rows)
            .flat_map(|y| {
                (0..columns).map(move |x| {
                    if y < band_top {
                        BARS[x * BARS.len() / columns]
                    } else {
                        BAND
                    }
                })
            })
            .collect();
        let mut picture = Picture {
            width,
            height,
            pixels,
        };
        picture.write(name, band_top, rows - band_top);
        picture
    }

    pub fn pixels(&self) -> &[[u8; 3]] {
        &self.pixels
    }

    /// Draws `text` centred in the `rows` rows from `top`, as large as fits.
    fn write(&mut self, text: &str, top: usize, rows: usize) {
        let columns = usize::from(self.width);
        let length = text.chars().count().clamp(1, columns / CELL);
        let scale = (columns * 9 / 10 / (length * CELL))
            .min(rows / 2 / GLYPH_HEIGHT)
            .max(1);
        let left = columns.saturating_sub(length * CELL * scale - scale) / 2;
        let top = top + rows.saturating_sub(GLYPH_HEIGHT * scale) / 2;
        for (index, character) in text.chars().take(length).enumerate() {
            for (row, bits) in glyph(character).into_iter().enumerate() {
                for column in 0..GLYPH_WIDTH {
                    if bits & (0x10 >> column) != 0 {
                        let x = left + (index * CELL + column) * scale;
                        self.fill(x, top + row * scale, scale);
                    }
                }
            }
        }
    }

    fn fill(&mut self, x: usize, y: usize, size: usize) {
        let columns = usize::from(self.width);
        for row in y..y + size {
            let start = row * columns + x;
            if let Some(span) = self.pixels.get_mut(start..start + size) {
                span.fill(INK);
            }
        }
    }
}

/// The 5×7 glyph of a character that may appear in an object name, top row first, the
/// leftmost column in bit 4. Letters take their capital shapes, which read best at 5×7.
fn glyph(character: char) -> [u8; GLYPH_HEIGHT] {
    match character.to_ascii_lowercase() {
        'a' => [
            0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
        ],
        'b' => [
            0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110,
        ],
        'c' => [
            0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110,
        ],
        'd' => [
            0b11100, 0b10010, 0b10001, 0b10001, 0b10001, 0b10010, 0b11100,
        ],
        'e' => [
            0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111,
        ],
        'f' => [
            0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000,
        ],
        'g' => [
            0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111,
        ],
        'h' => [
            0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001,
        ],
        'i' => [
            0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
        ],
        'j' => [
            0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100,
        ],
        'k' => [
            0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001,
        ],
        'l' => [
            0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111,
        ],
        'm' => [
            0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001,
        ],
        'n' => [
            0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001,
        ],
        'o' => [
            0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
        ],
        'p' => [
            0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000,
        ],
        'q' => [
            0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101,
        ],
        'r' => [
            0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001,
        ],
        's' => [
            0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110,
        ],
        't' => [
            0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100,
        ],
        'u' => [
            0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110,
        ],
        'v' => [
            0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100,
        ],
        'w' => [
            0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010,
        ],
        'x' => [
            0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001,
        ],
        'y' => [
            0b10001, 0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100,
        ],
        'z' => [
            0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111,
        ],
        '0' => [
            0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110,
        ],
        '1' => [
            0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110,
        ],
        '2' => [
            0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111,
        ],
        '3' => [
            0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110,
        ],
        '4' => [
            0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010,
        ],
        '5' => [
            0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110,
        ],
        '6' => [
            0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110,
        ],
        '7' => [
            0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000,
        ],
        '8' => [
            0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110,
        ],
        '9' => [
            0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100,
        ],
        '-' => [0, 0, 0, 0b11111, 0, 0, 0],
        '.' => [0, 0, 0, 0, 0, 0b01100, 0b01100],
        _ => [0; GLYPH_HEIGHT],
    }
}

#[cfg(test)]
mod tests {
    use super::{glyph, Picture, INK};
    use std::collections::HashSet;

    #[test]
    fn every_name_character_has_its_own_glyph() {
        let characters = "abcdefghijklmnopqrstuvwxyz0123456789-.";
        let glyphs: HashSet<_> = characters.chars().map(glyph).collect();
        assert_eq!(glyphs.len(), characters.len());
        assert!(!glyphs.contains(&[0; 7]));
    }

    #[test]
    fn the_name_is_drawn_below_the_bars() {
        let ink = |name: &str| {
            let picture = Picture::render(name);
            picture.pixels()[640 * 320..]
                .iter()
                .filter(|pixel| **pixel == INK)
                .count()
        };
        assert_eq!(ink(""), 0);
        assert!(ink("demo") > 0);
        assert_ne!(ink("demo"), ink("demo-2"));
    }
}
