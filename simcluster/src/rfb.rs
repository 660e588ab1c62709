//! A small RFB server (RFC 6143), enough for noVNC, virtctl and desktop viewers to show a
//! simulated VMI's screen: no authentication, one Raw-encoded test pattern, input read and
//! ignored.

use super::{console::Link, pattern::Picture};

const SET_PIXEL_FORMAT: u8 = 0;
const SET_ENCODINGS: u8 = 2;
const FRAMEBUFFER_UPDATE_REQUEST: u8 = 3;
const KEY_EVENT: u8 = 4;
const POINTER_EVENT: u8 = 5;
const CLIENT_CUT_TEXT: u8 = 6;

/// Security type None.
const NO_SECURITY: u8 = 1;

/// How pixels travel (RFC 6143 §7.4), for true-colour formats.
#[derive(Clone, Copy, Debug)]
struct PixelFormat {
    bits_per_pixel: u8,
    depth: u8,
    big_endian: bool,
    /// Red, green and blue.
    max: [u16; 3],
    shift: [u8; 3],
}

impl PixelFormat {
    /// The server's own: 32 bits a pixel in little-endian order, red in bits 16 to 23.
    const SERVER: PixelFormat = PixelFormat {
        bits_per_pixel: 32,
        depth: 24,
        big_endian: false,
        max: [255; 3],
        shift: [16, 8, 0],
    };

    fn to_bytes(self) -> [u8; 16] {
        let [red, green, blue] = self.max.map(u16::to_be_bytes);
        let [red_shift, green_shift, blue_shift] = self.shift;
        [
            self.bits_per_pixel,
            self.depth,
            u8::from(self.big_endian),
            1,
            red[0],
            red[1],
            green[0],
            green[1],
            blue[0],
            blue[1],
            red_shift,
            green_shift,
            blue_shift,
            0,
            0,
            0,
        ]
    }

    /// A client's choice, unless it asks for a colour map or a pixel size the RFC does not have.
    fn parse(bytes: [u8; 16]) -> Option<Self> {
        let [bits, depth, big_endian, true_colour, r0, r1, g0, g1, b0, b1, rs, gs, bs, ..] = bytes;
        (true_colour != 0 && matches!(bits, 8 | 16 | 32)).then(|| PixelFormat {
            bits_per_pixel: bits,
            depth,
            big_endian: big_endian != 0,
            max: [[r0, r1], [g0, g1], [b0, b1]].map(u16::from_be_bytes),
            shift: [rs, gs, bs],
        })
    }

    fn encode(self, pixel: [u8; 3], out: &mut Vec<u8>) {
        let mut value = 0u32;
        for ((level, max), shift) in pixel.into_iter().zip(self.max).zip(self.shift) {
            let scaled = (u32::from(level) * u32::from(max) + 127) / 255;
            value |= scaled.checked_shl(u32::from(shift)).unwrap_or(0);
        }
        let size = usize::from(self.bits_per_pixel / 8);
        if self.big_endian {
            out.extend_from_slice(&value.to_be_bytes()[4 - size..]);
        } else {
            out.extend_from_slice(&value.to_le_bytes()[..size]);
        }
    }
}

/// Serves one client until it leaves, breaks the protocol or the session ends.
pub async fn serve(link: &mut Link, name: &str) -> Option<()> {
    link.write(b"RFB 003.008\n".to_vec()).await?;
    let minor = version(link.read_array::<12>().await?)?;
    security(link, minor).await?;
    // ClientInit: whether to share the desktop means nothing with one session.
    link.read_array::<1>().await?;
    let picture = Picture::render(name);
    link.write(server_init(&picture, name)).await?;
    let mut format = PixelFormat::SERVER;
    loop {
        let [message] = link.read_array().await?;
        match message {
            SET_PIXEL_FORMAT => {
                let [_, _, _, format_bytes @ ..] = link.read_array::<19>().await?;
                format = PixelFormat::parse(format_bytes).or_else(|| {
                    tracing::debug!(?format_bytes, "simulated VNC: pixel format not served");
                    None
                })?;
            }
            SET_ENCODINGS => {
                let [_, high, low] = link.read_array().await?;
                link.skip(4 * usize::from(u16::from_be_bytes([high, low])))
                    .await?;
            }
            FRAMEBUFFER_UPDATE_REQUEST => {
                let [incremental, ..] = link.read_array::<9>().await?;
                // The picture never changes, so an incremental request waits for ever, which
                // RFC 6143 §7.5.3 allows; only a full one gets the picture.
                if incremental == 0 {
                    link.write(update(&picture, format)).await?;
                }
            }
            KEY_EVENT => link.skip(7).await?,
            POINTER_EVENT => link.skip(5).await?,
            CLIENT_CUT_TEXT => {
                let [_, _, _, length @ ..] = link.read_array::<7>().await?;
                link.skip(usize::try_from(u32::from_be_bytes(length)).ok()?)
                    .await?;
            }
            other => {
                tracing::debug!(other, "simulated VNC: unknown client message");
                return None;
            }
        }
    }
}

/// The minor version of a ProtocolVersion message; RFC 6143 §7.1.1 has servers treat an
/// unknown one as 3.3.
fn version(message: [u8; 12]) -> Option<u8> {
    let text = std::str::from_utf8(&message).ok()?;
    let minor: u16 = text
        .strip_prefix("RFB 003.")?
        .strip_suffix('\n')?
        .parse()
        .ok()?;
    Some(match minor {
        8.. => 8,
        7 => 7,
        _ => 3,
    })
}

/// Agrees on security type None in the way each version does it.
async fn security(link: &mut Link, minor: u8) -> Option<()> {
    if minor == 3 {
        // 3.3: the server decides alone, in four bytes.
        return link
            .write(u32::from(NO_SECURITY).to_be_bytes().to_vec())
            .await;
    }
    link.write(vec![1, NO_SECURITY]).await?;
    let [chosen] = link.read_array().await?;
    if chosen != NO_SECURITY {
        if minor == 8 {
            let reason = b"only security type None is offered";
            let mut failed = vec![0, 0, 0, 1, 0, 0, 0, reason.len() as u8];
            failed.extend_from_slice(reason);
            link.write(failed).await?;
        }
        return None;
    }
    // 3.7 sends no SecurityResult after None.
    if minor == 8 {
        link.write(vec![0; 4]).await?;
    }
    Some(())
}

fn server_init(picture: &Picture, name: &str) -> Vec<u8> {
    let mut message = Vec::new();
    message.extend_from_slice(&picture.width.to_be_bytes());
    message.extend_from_slice(&picture.height.to_be_bytes());
    message.extend_from_slice(&PixelFormat::SERVER.to_bytes());
    message.extend_from_slice(&(name.len() as u32).to_be_bytes());
    message.extend_from_slice(name.as_bytes());
    message
}

/// A FramebufferUpdate with the whole picture as one Raw rectangle.
fn update(picture: &Picture, format: PixelFormat) -> Vec<u8> {
    // Message type 0, padding, one rectangle at x 0, y 0.
    let mut message = vec![0, 0, 0, 1, 0, 0, 0, 0];
    message.extend_from_slice(&picture.width.to_be_bytes());
    message.extend_from_slice(&picture.height.to_be_bytes());
    // Raw encoding.
    message.extend_from_slice(&0i32.to_be_bytes());
    message.reserve(picture.pixels().len() * usize::from(format.bits_per_pixel / 8));
    for &pixel in picture.pixels() {
        format.encode(pixel, &mut message);
    }
    message
}
