//! The QR code images: `qr_content` rendered as SVG or PNG.

use super::extract::QrIdPath;
use crate::app::App;
use crate::error::Error;
use crate::session::QrId;
use crate::store::SessionStore;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use qrcode::QrCode;
use qrcode::render::svg;

/// Pixels per QR module in the PNG: ~300 px for a typical code, crisp when scaled.
const PNG_MODULE_PX: u32 = 8;

/// What the QR of session `id` encodes: the phone page of this server.
pub fn qr_content(public_base: &str, id: &QrId) -> String {
    format!("{public_base}/l/{id}")
}

fn code_for<S: SessionStore>(app: &App<S>, id: &QrId) -> Result<QrCode, Error> {
    QrCode::new(qr_content(app.config.public_base(), id).as_bytes())
        .map_err(|e| Error::Internal(format!("QR encoding failed: {e}")))
}

pub async fn svg<S: SessionStore>(
    State(app): State<App<S>>,
    QrIdPath(id): QrIdPath,
) -> Result<Response, Error> {
    if !app.qr_exists(&id).await? {
        return Err(Error::NotFound);
    }
    let image = code_for(&app, &id)?
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#111111"))
        .light_color(svg::Color("#ffffff"))
        .build();
    Ok(image_response("image/svg+xml", image.into_bytes()))
}

pub async fn png<S: SessionStore>(
    State(app): State<App<S>>,
    QrIdPath(id): QrIdPath,
) -> Result<Response, Error> {
    if !app.qr_exists(&id).await? {
        return Err(Error::NotFound);
    }
    let code = code_for(&app, &id)?;
    let bytes = render_png(&code)?;
    Ok(image_response("image/png", bytes))
}

/// Encodes a QR code as a greyscale PNG.
pub fn render_png(code: &QrCode) -> Result<Vec<u8>, Error> {
    let image = code
        .render::<image::Luma<u8>>()
        .module_dimensions(PNG_MODULE_PX, PNG_MODULE_PX)
        .build();
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
