//! The QR images encode exactly `qr_content`.

use crate::helpers::*;
use reqwest::StatusCode;
use std::time::Duration;

#[tokio::test]
async fn png_decodes_back_to_the_qr_content() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let resp = t
        .client
        .get(t.url(&format!("/api/qr/{}/qr.png", qr.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let bytes = resp.bytes().await.unwrap();
    let image = image::load_from_memory(&bytes).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(image);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, qr.qr_content);
}

#[tokio::test]
async fn svg_is_served_uncached() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    let resp = t
        .client
        .get(t.url(&format!("/api/qr/{}/qr.svg", qr.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let text = resp.text().await.unwrap();
    assert!(text.contains("<svg"));
}

#[tokio::test]
async fn images_of_unknown_or_expired_codes_are_404() {
    let t = spawn_app().await;
    let qr = t.create_qr().await;
    t.clock().advance(Duration::from_secs(301));
    for ext in ["png", "svg"] {
        let resp = t
            .client
            .get(t.url(&format!("/api/qr/{}/qr.{ext}", qr.id)))
            .send()
            .await
            .unwrap();
        expect_error(resp, 404, "not_found").await;
        let resp = t
            .client
            .get(t.url(&format!("/api/qr/AAAAAAAAAAAAAAAAAAAAAA/qr.{ext}")))
            .send()
            .await
            .unwrap();
        expect_error(resp, 404, "not_found").await;
    }
}
