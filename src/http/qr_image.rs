//! The QR code images: `qr_content` rendered as SVG or PNG.
//!
//! Encoding is `fast_qr`'s: it picks the best mask (what makes a code easy
//! to scan) about five times faster than the `qrcode` crate, which spent
//! ~480 µs of its ~490 µs per code there (measured for BENCHMARKS.md).

use super::extract::QrIdPath;
use crate::app::App;
use crate::error::Error;
use crate::session::QrId;
use crate::store::SessionStore;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use fast_qr::ECL;
use fast_qr::convert::svg::SvgBuilder;
use fast_qr::convert::{Builder as _, Shape};
use fast_qr::qr::{QRBuilder, QRCode};

/// Pixels per QR module in the PNG: ~330 px for a typical code, crisp when scaled.
const PNG_MODULE_PX: u32 = 8;
/// Light modules around the code, as the QR standard asks.
const QUIET_ZONE: u32 = 4;

/// What the QR of session `id` encodes: the phone page of this server.
pub fn qr_content(public_base: &str, id: &QrId) -> String {
    format!("{public_base}/l/{id}")
}

/// Medium error correction: survives glare and a partly covered screen.
fn encode(content: &str) -> Result<QRCode, Error> {
    QRBuilder::new(content)
        .ecl(ECL::M)
        .build()
        .map_err(|e| Error::Internal(format!("QR encoding failed: {e:?}")))
}

pub async fn svg<S: SessionStore>(
    State(app): State<App<S>>,
    QrIdPath(id): QrIdPath,
) -> Result<Response, Error> {
    if !app.qr_exists(&id).await? {
        return Err(Error::NotFound);
    }
    let svg = render_svg(&qr_content(app.config.public_base(), &id))?;
    Ok(image_response("image/svg+xml", svg.into_bytes()))
}

pub async fn png<S: SessionStore>(
    State(app): State<App<S>>,
    QrIdPath(id): QrIdPath,
) -> Result<Response, Error> {
    if !app.qr_exists(&id).await? {
        return Err(Error::NotFound);
    }
    let png = render_png(&qr_content(app.config.public_base(), &id))?;
    Ok(image_response("image/png", png))
}

/// `content` as an SVG QR code (square modules, quiet zone included).
pub fn render_svg(content: &str) -> Result<String, Error> {
    let code = encode(content)?;
    Ok(SvgBuilder::default()
        .shape(Shape::Square)
        .margin(QUIET_ZONE as usize)
        .module_color("#111111")
        .background_color("#ffffff")
        .to_str(&code))
}

/// `content` as a greyscale PNG QR code (quiet zone included).
pub fn render_png(content: &str) -> Result<Vec<u8>, Error> {
    let code = encode(content)?;
    let modules = u32::try_from(code.size).map_err(|_| Error::Internal("QR too large".into()))?;
    let side = (modules + 2 * QUIET_ZONE) * PNG_MODULE_PX;
    let image = image::GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / PNG_MODULE_PX, y / PNG_MODULE_PX);
        let inside = (QUIET_ZONE..QUIET_ZONE + modules).contains(&mx)
            && (QUIET_ZONE..QUIET_ZONE + modules).contains(&my);
        let dark = inside && code[(my - QUIET_ZONE) as usize][(mx - QUIET_ZONE) as usize].value();
        image::Luma([if dark { 0 } else { 255 }])
    });
    let mut bytes = Vec::new();
    image
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .map_err(|e| Error::Internal(format!("PNG encoding failed: {e}")))?;
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
