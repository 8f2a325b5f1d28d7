//! The one integration-test binary. Most tests build the real application
//! from a typed config on 127.0.0.1:0 through [`helpers::spawn_app`] and talk
//! real HTTP to it; the store tests drive each backend directly, and
//! `startup.rs` runs the real binary. Set `TEST_LOG=1` to see the server's logs.
#![allow(clippy::unwrap_used)]

mod bad_input;
mod chromium;
mod cli;
mod cluster;
mod cold_start;
mod connections;
mod contract;
mod deploy;
mod device;
mod device_clients;
mod e2e_login;
mod e2e_phone;
mod e2e_relay;
mod e2e_transport;
mod events;
mod exchange;
mod flow;
mod forward_auth;
mod hardening;
mod helpers;
mod i18n;
mod jwt;
mod limits;
mod mobile;
mod nginx;
mod nginx_server;
mod node;
mod observe;
mod oidc;
mod openapi;
mod page_language;
mod pages;
mod phone_page;
mod poll;
mod qr_image;
mod redis_cluster;
mod redis_cluster_server;
mod redis_server;
mod relay;
mod relying_site;
mod request_ids;
mod rp;
mod self_test;
mod sentinel;
mod sentinel_deployment;
mod service;
mod site_login_page;
mod sse;
mod startup;
mod state_machine;
mod store_conformance;
mod store_memory;
mod store_redis;
mod store_redis_cluster;
mod store_sentinel;
mod third_party_rp;
