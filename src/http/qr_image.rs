//! The QR code images: `qr_content` rendered as SVG or PNG.
//!
//! Encoding is `fast_qr`'s: it picks the best mask (what makes a code easy
//! to scan) about five times faster than the `qrcode` crate, which spent
//! ~480 µs of its ~490 µs per code there (measured for BENCHMARKS.md).
//! Rendering the finished module matrix is ours: the SVG is one path of
//! horizontal runs in module units (about half the bytes, a fraction of the
//! time of a shape per module), the PNG a plain greyscale bitmap.

use super::error::ApiError;
use super::extract::QrIdPath;
use super::state::AppState;
use crate::api::{ErrorBody, paths};
use crate::login::LoginError;
use crate::oidc::device::verification_uri_complete;
use crate::session::QrId;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fast_qr::ECL;
use fast_qr::qr::{QRBuilder, QRCode};
use image::ImageEncoder as _;
use image::codecs::png::{CompressionType, FilterType, PngEncoder};

/// Pixels per QR module in the PNG: ~330 px for a typical code, crisp when scaled.
const PNG_MODULE_PX: u32 = 8;
/// Light modules around the code, as the QR standard asks.
const QUIET_ZONE: u32 = 4;

/// What the QR of session `id` encodes: the phone page of this server.
pub fn qr_content(public_base: &str, id: &QrId) -> String {
    format!("{public_base}{}", paths::with_id(paths::PHONE_PAGE, id))
}

/// Medium error correction: survives glare and a partly covered screen.
fn encode(content: &str) -> Result<QRCode, ApiError> {
    QRBuilder::new(content)
        .ecl(ECL::M)
        .build()
        .map_err(|e| ApiError::Internal(format!("QR encoding failed: {e:?}")))
}

/// The content of the live QR session `id`, or 404: a device's shows its
/// verification URI with the user code (RFC 8628 §3.3.1), so a phone camera
/// without the app still lands on a page that helps.
async fn live_content(app: &AppState, id: &QrId) -> Result<String, ApiError> {
    let session = app
        .login()
        .live_session(id)
        .await?
        .ok_or(LoginError::NotFound)?;
    let base = app.config().public_base();
    Ok(match &session.device {
        Some(device) => {
            verification_uri_complete(&format!("{base}{}", paths::DEVICE_PAGE), &device.user_code)
        }
        None => qr_content(base, id),
    })
}

/// The QR code of a live session as SVG.
#[utoipa::path(get, path = paths::QR_SVG, tag = "browser",
    params(("id" = String, Path, description = "QR session id")),
    responses(
        (status = 200, content_type = "image/svg+xml", body = String, description = "The QR code"),
        (status = 404, body = ErrorBody, description = "not_found: unknown or expired"),
        (status = 503, body = ErrorBody, description = "store_unavailable"),
    ))]
pub async fn svg(
    State(app): State<AppState>,
    QrIdPath(id): QrIdPath,
) -> Result<Response, ApiError> {
    let svg = render_svg(&live_content(&app, &id).await?)?;
    Ok(image_response("image/svg+xml", svg.into_bytes()))
}

/// The QR code of a live session as PNG.
// No body type: PNG bytes have no JSON Schema, and OpenAPI 3.1 describes a
// binary body by its media type alone (`Vec<u8>` read "array of integers").
#[utoipa::path(get, path = paths::QR_PNG, tag = "browser",
    params(("id" = String, Path, description = "QR session id")),
    responses(
        (status = 200, content_type = "image/png", description = "The QR code"),
        (status = 404, body = ErrorBody, description = "not_found: unknown or expired"),
        (status = 503, body = ErrorBody, description = "store_unavailable"),
    ))]
pub async fn png(
    State(app): State<AppState>,
    QrIdPath(id): QrIdPath,
) -> Result<Response, ApiError> {
    let png = render_png(&live_content(&app, &id).await?)?;
    Ok(image_response("image/png", png))
}

/// `content` as an SVG QR code (quiet zone included).
pub fn render_svg(content: &str) -> Result<String, ApiError> {
    let code = encode(content)?;
    let (n, quiet) = (code.size, QUIET_ZONE as usize);
    let side = n + 2 * quiet;
    let mut svg = String::with_capacity(n * n * 3 + 256);
    svg.push_str("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ");
    push_number(&mut svg, side);
    svg.push(' ');
    push_number(&mut svg, side);
    svg.push_str("\" shape-rendering=\"crispEdges\"><rect width=\"");
    push_number(&mut svg, side);
    svg.push_str("\" height=\"");
    push_number(&mut svg, side);
    svg.push_str("\" fill=\"#fff\"/><path fill=\"#111\" d=\"");
    for y in 0..n {
        let row = &code[y];
        let mut x = 0;
        while x < n {
            if !row[x].value() {
                x += 1;
                continue;
            }
            let start = x;
            while x < n && row[x].value() {
                x += 1;
            }
            // `M x y h len v1 H x z`: one run of dark modules.
            svg.push('M');
            push_number(&mut svg, start + quiet);
            svg.push(' ');
            push_number(&mut svg, y + quiet);
            svg.push('h');
            push_number(&mut svg, x - start);
            svg.push_str("v1H");
            push_number(&mut svg, start + quiet);
            svg.push('z');
        }
    }
    svg.push_str("\"/></svg>");
    Ok(svg)
}

/// Appends `n` in decimal. A code has a few hundred runs of four numbers
/// each, and `write!` spent ~20 % of a create + SVG pair formatting them
/// (callgrind, BENCHMARKS.md); `itoa` does it without the formatting machinery.
fn push_number(out: &mut String, n: usize) {
    out.push_str(itoa::Buffer::new().format(n));
}

/// `content` as a greyscale PNG QR code (quiet zone included).
pub fn render_png(content: &str) -> Result<Vec<u8>, ApiError> {
    let code = encode(content)?;
    let modules =
        u32::try_from(code.size).map_err(|_| ApiError::Internal("QR too large".into()))?;
    let side = (modules + 2 * QUIET_ZONE) * PNG_MODULE_PX;
    let image = image::GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / PNG_MODULE_PX, y / PNG_MODULE_PX);
        let inside = (QUIET_ZONE..QUIET_ZONE + modules).contains(&mx)
            && (QUIET_ZONE..QUIET_ZONE + modules).contains(&my);
        let dark = inside && code[(my - QUIET_ZONE) as usize][(mx - QUIET_ZONE) as usize].value();
        image::Luma([if dark { 0 } else { 255 }])
    });
    // Fast deflate with adaptive filtering: ~40 µs and ~4 KB for a code;
    // the default level took ~400 µs for 1 KB, no filtering made 35 KB.
    let mut bytes = Vec::new();
    PngEncoder::new_with_quality(&mut bytes, CompressionType::Fast, FilterType::Adaptive)
        .write_image(image.as_raw(), side, side, image::ExtendedColorType::L8)
        .map_err(|e| ApiError::Internal(format!("PNG encoding failed: {e}")))?;
    Ok(bytes)
}

fn image_response(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // A login code must never be served from a cache to someone else.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the SVG's path back into a module grid.
    fn svg_modules(svg: &str, side: usize) -> Vec<Vec<bool>> {
        let mut grid = vec![vec![false; side]; side];
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        for run in d.split('M').filter(|r| !r.is_empty()) {
            let (xy, rest) = run.split_once('h').unwrap();
            let (x, y) = xy.split_once(' ').unwrap();
            let (x, y): (usize, usize) = (x.parse().unwrap(), y.parse().unwrap());
            let len: usize = rest.split_once('v').unwrap().0.parse().unwrap();
            for cell in &mut grid[y][x..x + len] {
                assert!(!*cell, "runs overlap");
                *cell = true;
            }
        }
        grid
    }

    /// The SVG as it was written with `format!` before `push_number`: the
    /// faster writer must not change a byte.
    fn svg_with_format(content: &str) -> String {
        use std::fmt::Write as _;
        let code = encode(content).unwrap();
        let (n, quiet) = (code.size, QUIET_ZONE as usize);
        let mut path = String::new();
        for y in 0..n {
            let mut x = 0;
            while x < n {
                if !code[y][x].value() {
                    x += 1;
                    continue;
                }
                let start = x;
                while x < n && code[y][x].value() {
                    x += 1;
                }
                let (sx, sy) = (start + quiet, y + quiet);
                write!(path, "M{sx} {sy}h{}v1H{sx}z", x - start).unwrap();
            }
        }
        let side = n + 2 * quiet;
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {side} {side}\" \
             shape-rendering=\"crispEdges\"><rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/>\
             <path fill=\"#111\" d=\"{path}\"/></svg>"
        )
    }

    #[test]
    fn the_svg_text_is_what_format_wrote() {
        // Short and long contents: one- to three-digit coordinates.
        let mut widest = 0;
        for content in [
            "https://login.example.com/l/KMoCuGmmkhHPDsn-DrGx8A".to_owned(),
            format!("https://login.example.com/l/{}", "x".repeat(1500)),
        ] {
            assert_eq!(render_svg(&content).unwrap(), svg_with_format(&content));
            widest = widest.max(encode(&content).unwrap().size + 2 * QUIET_ZONE as usize);
        }
        assert!(widest >= 100, "three-digit coordinates were covered");
    }

    #[test]
    fn the_svg_draws_exactly_the_encoded_modules() {
        let content = "https://login.example.com/l/KMoCuGmmkhHPDsn-DrGx8A";
        let code = encode(content).unwrap();
        let q = QUIET_ZONE as usize;
        let side = code.size + 2 * q;
        let svg = render_svg(content).unwrap();
        assert!(svg.contains(&format!("viewBox=\"0 0 {side} {side}\"")));
        let grid = svg_modules(&svg, side);
        for (y, row) in grid.iter().enumerate() {
            for (x, &dark) in row.iter().enumerate() {
                let inside = (q..q + code.size).contains(&x) && (q..q + code.size).contains(&y);
                let want = inside && code[y - q][x - q].value();
                assert_eq!(dark, want, "module ({x}, {y})");
            }
        }
    }
}
