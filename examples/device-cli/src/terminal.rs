//! The QR code as terminal text: Unicode half blocks (`▀ ▄ █`), two modules
//! per character cell, so the modules come out square in a cell about twice
//! as tall as it is wide.
//!
//! A scanner wants dark modules on a light ground, with a light quiet zone
//! around them. A terminal draws a glyph in its foreground colour on its
//! background colour, and which of the two is dark depends on the user's
//! theme: plain glyphs come out right on a light terminal and inverted on a
//! dark one, where the quiet zone is dark too. So every line is painted
//! black on white with explicit colours: palette entries 16 (#000000) and
//! 231 (#ffffff) of the 256-colour cube, which themes leave alone (they
//! remap the 16 basic colours, where "white" is often grey and "black" may
//! be anything). The half blocks draw dark modules; spaces, the lower half
//! of the last line included, show the white background.

use qrcode::render::unicode::Dense1x2;
use qrcode::{QrCode, types::QrError};

/// Black foreground, white background: the 256-colour palette's fixed
/// #000000 and #ffffff.
pub const BLACK_ON_WHITE: &str = "\x1b[38;5;16;48;5;231m";
/// Back to the terminal's own colours.
pub const RESET: &str = "\x1b[0m";

/// How to colour the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colours {
    /// Black on white whatever the theme: scans from dark and light
    /// terminals alike.
    BlackOnWhite,
    /// No escape codes (the user set `NO_COLOR`): dark modules in the
    /// terminal's foreground colour, which scans as drawn on a light
    /// terminal and inverted on a dark one (many phone scanners read
    /// inverted codes too).
    None,
}

/// `text` as a QR code in half blocks, with the standard quiet zone of four
/// modules, one line per two module rows, each line ending in `\n`.
pub fn qr_lines(text: &str, colours: Colours) -> Result<String, QrError> {
    let code = QrCode::new(text.as_bytes())?;
    let blocks = code
        .render::<Dense1x2>()
        .dark_color(Dense1x2::Dark)
        .light_color(Dense1x2::Light)
        .quiet_zone(true)
        .build();
    let mut out = String::with_capacity(blocks.len() * 2);
    for line in blocks.lines() {
        match colours {
            Colours::BlackOnWhite => {
                out.push_str(BLACK_ON_WHITE);
                out.push_str(line);
                // Reset before the newline: a background still set when the
                // terminal scrolls would paint the whole next line.
                out.push_str(RESET);
            }
            Colours::None => out.push_str(line),
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_black_on_white_and_as_wide_as_the_code() {
        let text = "http://127.0.0.1:8080/device?user_code=WDJB-MJHT";
        let modules = QrCode::new(text).unwrap().width();
        let out = qr_lines(text, Colours::BlackOnWhite).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        // Four light modules of quiet zone on each side, two rows a line.
        assert_eq!(lines.len(), (modules + 8).div_ceil(2));
        for line in &lines {
            let blocks = line
                .strip_prefix(BLACK_ON_WHITE)
                .and_then(|l| l.strip_suffix(RESET))
                .unwrap_or_else(|| panic!("not black on white: {line:?}"));
            assert_eq!(blocks.chars().count(), modules + 8, "{blocks:?}");
            assert!(blocks.chars().all(|c| " ▀▄█".contains(c)), "{blocks:?}");
        }
        // The quiet zone: the first two lines are all light (spaces), and so
        // are the four columns at each end of every line.
        for line in &lines[..2] {
            assert!(line[BLACK_ON_WHITE.len()..].starts_with(&" ".repeat(modules + 8)));
        }
        for line in &lines {
            let blocks: Vec<char> = line[BLACK_ON_WHITE.len()..].chars().collect();
            assert!(blocks[..4].iter().all(|&c| c == ' '), "{line:?}");
            assert!(
                blocks[modules + 4..modules + 8].iter().all(|&c| c == ' '),
                "{line:?}"
            );
        }
    }

    #[test]
    fn without_colours_there_are_no_escape_codes() {
        let out = qr_lines("http://127.0.0.1:8080/device", Colours::None).unwrap();
        assert!(!out.contains('\x1b'));
        assert!(out.contains('█'));
    }
}
