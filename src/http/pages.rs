//! The pages: the login page at `/` (which `?rd=` may send on), the phone
//! page at `/l/{id}`, and the assets they load under `/static/`. `static/`
//! is compiled into the binary, so it serves them from wherever it runs;
//! `server.static_dir` puts a directory in its place (branding). The two
//! pages leave already in the reader's language (`page_render.rs`).

use super::browser::SESSION_COOKIE;
use super::error::ApiError;
use super::language;
use super::page_render::{PageLinks, render};
use super::page_strings::{PageLang, PageStrings};
use super::phone_page;
use super::state::AppState;
use crate::api::paths;
use crate::config::PagesConfig;
use crate::forward_auth::redirect::carries_login;
use crate::forward_auth::redirect_target;
use crate::login::LoginError;
use crate::secret::Secret;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use axum_extra::headers::{ETag, HeaderMapExt, IfNoneMatch};
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::UNIX_EPOCH;

/// The file served at `/`.
pub const LOGIN_PAGE: &str = "index.html";
/// The file served at `/l/{id}`.
pub const PHONE_PAGE: &str = "phone.html";
/// The pages' strings, which the server paints them with too.
const STRINGS_FILE: &str = "i18n.js";

/// Asset names carry no content hash (`/static/login.js` is the same URL in
/// every version), so browsers must revalidate each time: with a max-age an
/// upgraded server would meet cached scripts of the old version. The ETag
/// makes revalidation a bodiless 304.
const CACHE_CONTROL: HeaderValue = HeaderValue::from_static("no-cache");

/// `static/` as it was at build time (`build.rs` rebuilds when it changes).
#[derive(rust_embed::RustEmbed)]
#[folder = "static/"]
struct Embedded;

/// Where the pages come from.
#[derive(Clone, Debug)]
enum Files {
    Embedded,
    /// `server.static_dir`. It replaces the embedded files as a whole rather
    /// than file by file, so a branded copy never runs with the scripts of
    /// another version.
    Dir(Arc<Path>),
}

/// The files and what the two pages are painted with.
#[derive(Clone, Debug)]
pub(super) struct Pages {
    files: Files,
    links: Arc<PageLinks>,
    /// The strings of `static_dir`'s i18n.js, by that file's ETag: read
    /// again only when it changes (the embedded ones are in [`embedded_strings`]).
    dir_strings: Arc<Mutex<Option<StringsOf>>>,
}

/// Parsed strings, with the ETag of the i18n.js they came from.
type StringsOf = (ETag, Arc<PageStrings>);

/// A file that exists, not read yet: a revalidation needs only its ETag.
struct Asset {
    etag: ETag,
    content_type: HeaderValue,
    contents: Contents,
}

enum Contents {
    Embedded(Cow<'static, [u8]>),
    OnDisk(PathBuf),
}

/// The page and asset routes: the embedded files, or those of `static_dir`
/// when given (already checked by `Config::load` to hold both pages).
pub fn routes(static_dir: Option<&Path>, links: &PagesConfig) -> Router<AppState> {
    let pages = Pages::new(static_dir, links);
    let login = {
        let pages = pages.clone();
        get(
            move |State(app): State<AppState>,
                  RawQuery(query): RawQuery,
                  jar: CookieJar,
                  request: HeaderMap| {
                let pages = pages.clone();
                async move { login_page(&pages, &app, query.as_deref(), &jar, &request).await }
            },
        )
    };
    let phone = {
        let pages = pages.clone();
        get(move |app, ip, id, request| phone_page::route(pages.clone(), app, ip, id, request))
    };
    let no_code = {
        let pages = pages.clone();
        get(move |request: HeaderMap| {
            let pages = pages.clone();
            async move { phone_page::without_code(&pages, &request).await }
        })
    };
    Router::new()
        .route("/static/{*name}", get(asset))
        .with_state(pages)
        .route(paths::LOGIN_PAGE, login)
        .route(paths::PHONE_PAGE, phone)
        .route("/l/", no_code.clone())
        .route("/l", no_code)
}

/// The login page. `?rd=` (or `?next=`) says where to go once logged in (nginx
/// forward-auth sends browsers here with it): refused with a 400 page
/// unless [`redirect_target`] accepts it, and a browser already logged in
/// goes straight there. The page script passes it on as `next`.
async fn login_page(
    pages: &Pages,
    app: &AppState,
    query: Option<&str>,
    jar: &CookieJar,
    request: &HeaderMap,
) -> Response {
    // `next` is the same as `rd`, for links written by hand or by a site
    // (`/?next=/somewhere`), with the same checks.
    let rd: Vec<_> = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "rd" || k == "next")
        .map(|(_, v)| v)
        .take(2)
        .collect();
    let raw = match rd.as_slice() {
        [] => return serve_page(pages, LOGIN_PAGE, request).await,
        [raw] => raw,
        _ => return not_allowed_page("The link gives more than one return address."),
    };
    let Some(target) = redirect_target(raw, app.config()) else {
        return not_allowed_page(
            "The link that brought you here would send you on to an address this login \
             server does not send browsers to. Check where the link came from.",
        );
    };
    if let Some(cookie) = jar.get(SESSION_COOKIE) {
        let cookie = Secret::from_client(cookie.value());
        match app.login().current_login(Some(&cookie)).await {
            Ok(_) if carries_login(&target, app.config()) => {
                return Redirect::to(&target).into_response();
            }
            // A host the login cookie does not reach: a link to follow,
            // not an automatic bounce.
            Ok(account) => return continue_page(&account.user.name, &target),
            Err(LoginError::NotLoggedIn) => {}
            // The page can still log the browser in, and shows the outage itself.
            Err(e) => tracing::warn!(error = %e, "could not read the login behind ?rd="),
        }
    }
    serve_page(pages, LOGIN_PAGE, request).await
}

/// "Logged in as …: continue to <target>", for a return address the login
/// cookie does not reach.
fn continue_page(name: &str, target: &str) -> Response {
    let body = format!(
        "<p id=\"message\">You are logged in here as {name}.</p>\
         <p><a class=\"btn btn-primary btn-wide\" id=\"continue\" href=\"{href}\">Continue to {host}</a></p>",
        name = escape(name),
        href = escape(target),
        host = escape(
            &url::Url::parse(target)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default()
        ),
    );
    html_page(StatusCode::OK, "Logged in", &body)
}

fn not_allowed_page(message: &str) -> Response {
    message_page(
        StatusCode::BAD_REQUEST,
        "Return address not allowed",
        message,
    )
}

/// The login page, for routes outside this router (`/oauth/authorize`
/// shows it for a relying site).
pub async fn login_page_from(app: &AppState, request: &HeaderMap) -> Response {
    let config = app.config();
    let pages = Pages::new(config.server.static_dir.as_deref(), &config.pages);
    serve_page(&pages, LOGIN_PAGE, request).await
}

/// A small page telling a person why their request went nowhere, for the
/// cases where redirecting back would be unsafe (an unverified redirect URI).
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    message_page_in("en", status, title, message)
}

/// [`message_page`] in another language (`lang`, a BCP 47 tag of ours).
pub(super) fn message_page_in(
    lang: &str,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    let body = format!("<p id=\"message\">{}</p>", escape(message));
    html_page_in(lang, status, title, &body)
}

/// Asks the person whether to log out (a logout link without proof that
/// the logged-in user's own site sent it): a form that posts `fields` back
/// to `action`, and a way to stay.
pub fn confirm_logout_page(name: &str, action: &str, fields: &[(&str, &str)]) -> Response {
    let body = format!(
        "<p id=\"message\">A site asked to end your login as {name} here.</p>\
         <form method=\"post\" action=\"{action}\">{inputs}\
         <button type=\"submit\" class=\"btn btn-primary btn-wide\">Log out</button></form>\
         <p><a href=\"/\">Stay logged in</a></p>",
        name = escape(name),
        action = escape(action),
        inputs = hidden_inputs(fields),
    );
    html_page(StatusCode::OK, "Log out?", &body)
}

/// `<input type="hidden">`s carrying `fields` through a form.
pub(super) fn hidden_inputs(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(k),
                escape(v)
            )
        })
        .collect()
}

/// A server-rendered page in the login page's style: `title` (escaped
/// here) over `body`, HTML the caller built with [`escape`]d values. Never
/// cached: these pages speak of one person's login.
pub(super) fn html_page(status: StatusCode, title: &str, body: &str) -> Response {
    html_page_in("en", status, title, body)
}

/// [`html_page`] in another language (`lang`, a BCP 47 tag of ours).
pub(super) fn html_page_in(lang: &str, status: StatusCode, title: &str, body: &str) -> Response {
    let title = escape(title);
    let html = format!(
        "<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"/static/style.css\"></head>\
         <body class=\"page-login\"><main class=\"card server-page\"><h1>{title}</h1>{body}</main></body></html>\n"
    );
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ];
    (status, headers, html).into_response()
}

/// Text made safe to place in HTML content or a quoted attribute.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn asset(
    State(pages): State<Pages>,
    UrlPath(name): UrlPath<String>,
    request: HeaderMap,
) -> Response {
    serve(&pages.files, &name, &request).await
}

/// A page (`name`: [`LOGIN_PAGE`] or [`PHONE_PAGE`]) in the request's
/// language. One URL, several bodies: `Vary` says on what, and each has its
/// own ETag, made of the page's and the strings' files, the language and
/// the links.
async fn serve_page(pages: &Pages, name: &str, request: &HeaderMap) -> Response {
    serve_page_with(pages, name, request, StatusCode::OK, &[]).await
}

/// [`serve_page`] with `status`, and `body_data` for the script as
/// `data-*` attributes of `<body>` (part of the ETag too).
pub(super) async fn serve_page_with(
    pages: &Pages,
    name: &str,
    request: &HeaderMap,
    status: StatusCode,
    body_data: &[(&str, &str)],
) -> Response {
    let lang = language::for_request(request);
    let Some(page) = pages.files.find(name).await else {
        return ApiError::RouteNotFound.into_response();
    };
    let strings_file = pages.files.find(STRINGS_FILE).await;
    let etag = {
        let mut hash = Sha256::new();
        // `ETag` has no Display; its Debug form holds the whole tag.
        for part in [
            format!("{:?}", page.etag),
            format!("{:?}", strings_file.as_ref().map(|f| &f.etag)),
            lang.code().to_owned(),
            pages.links.fingerprint(),
            format!("{body_data:?}"),
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        entity_tag(&hex(&hash.finalize()[..16]))
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, CACHE_CONTROL);
    headers.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Language, Cookie"),
    );
    headers.typed_insert(etag.clone());
    // Only a 200 is cached: a 404 page names what is missing, not a resource.
    let fresh = status == StatusCode::OK
        && request
            .typed_get::<IfNoneMatch>()
            .is_some_and(|cached| !cached.precondition_passes(&etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let html = match read(page.contents).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(response) => return response,
    };
    let strings = match strings_file {
        Some(file) => pages.strings(file).await,
        None => None,
    };
    let html = match strings.as_deref() {
        Some(strings) => painted(&html, strings, lang, &pages.links, body_data, name),
        None => html,
    };
    headers.insert(header::CONTENT_TYPE, page.content_type);
    (status, headers, html).into_response()
}

/// `html` painted in `lang`, or as it is (in English) if the rewriter
/// fails: the script still translates it then, as before server rendering.
fn painted(
    html: &str,
    strings: &PageStrings,
    lang: PageLang,
    links: &PageLinks,
    body_data: &[(&str, &str)],
    name: &str,
) -> String {
    render(html, strings, lang, links, body_data).unwrap_or_else(|e| {
        tracing::warn!(page = name, error = %e, "could not paint the page in its language");
        html.to_owned()
    })
}

async fn read(contents: Contents) -> Result<Cow<'static, [u8]>, Response> {
    match contents {
        Contents::Embedded(bytes) => Ok(bytes),
        Contents::OnDisk(path) => match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(Cow::Owned(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(ApiError::RouteNotFound.into_response())
            }
            Err(e) => {
                Err(ApiError::Internal(format!("reading {}: {e}", path.display())).into_response())
            }
        },
    }
}

/// The embedded i18n.js, parsed once.
fn embedded_strings() -> Option<Arc<PageStrings>> {
    static STRINGS: OnceLock<Option<Arc<PageStrings>>> = OnceLock::new();
    STRINGS
        .get_or_init(|| {
            let file = Embedded::get(STRINGS_FILE)?;
            parsed(&file.data)
        })
        .clone()
}

/// i18n.js's tables, or `None` (logged) when they cannot be read: the
/// pages are then served in their own English and translated by the script.
fn parsed(source: &[u8]) -> Option<Arc<PageStrings>> {
    match PageStrings::parse(&String::from_utf8_lossy(source)) {
        Ok(strings) => Some(Arc::new(strings)),
        Err(e) => {
            tracing::warn!(error = %e, "the pages' strings are unreadable; pages go out untranslated");
            None
        }
    }
}

impl Pages {
    fn new(static_dir: Option<&Path>, links: &PagesConfig) -> Self {
        Self {
            files: Files::new(static_dir),
            links: Arc::new(PageLinks::from_config(links)),
            dir_strings: Arc::default(),
        }
    }

    /// The strings of this page set's i18n.js, if it has readable ones.
    pub(super) async fn strings_now(&self) -> Option<Arc<PageStrings>> {
        let file = self.files.find(STRINGS_FILE).await?;
        self.strings(file).await
    }

    /// The strings in `file` (this page set's i18n.js).
    async fn strings(&self, file: Asset) -> Option<Arc<PageStrings>> {
        if matches!(self.files, Files::Embedded) {
            return embedded_strings();
        }
        let cached = self
            .dir_strings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .filter(|(etag, _)| *etag == file.etag)
            .map(|(_, strings)| strings.clone());
        if cached.is_some() {
            return cached;
        }
        let etag = file.etag.clone();
        let strings = parsed(&read(file.contents).await.ok()?)?;
        *self
            .dir_strings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some((etag, strings.clone()));
        Some(strings)
    }
}

async fn serve(files: &Files, name: &str, request: &HeaderMap) -> Response {
    // Unknown files answer like unknown routes: the API's JSON 404.
    let Some(asset) = files.find(name).await else {
        return ApiError::RouteNotFound.into_response();
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, CACHE_CONTROL);
    headers.typed_insert(asset.etag.clone());
    let fresh = request
        .typed_get::<IfNoneMatch>()
        .is_some_and(|cached| !cached.precondition_passes(&asset.etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let body = match read(asset.contents).await {
        Ok(bytes) => Body::from(bytes),
        Err(response) => return response,
    };
    headers.insert(header::CONTENT_TYPE, asset.content_type);
    (headers, body).into_response()
}

impl Files {
    fn new(static_dir: Option<&Path>) -> Self {
        // Canonical, so a resolved request path can be checked to lie below it.
        static_dir.map_or(Files::Embedded, |dir| {
            Files::Dir(dir.canonicalize().unwrap_or_else(|_| dir.to_owned()).into())
        })
    }

    async fn find(&self, name: &str) -> Option<Asset> {
        match self {
            Self::Embedded => {
                let file = Embedded::get(name)?;
                let hash = file.metadata.sha256_hash();
                Some(Asset {
                    etag: entity_tag(&hex(&hash[..16])),
                    content_type: content_type(file.metadata.mimetype()),
                    contents: Contents::Embedded(file.data),
                })
            }
            Self::Dir(dir) => {
                let named = dir.join(inside(name)?);
                // A symlink inside the directory must not lead out of it.
                let path = tokio::fs::canonicalize(&named).await.ok()?;
                if !path.starts_with(dir) {
                    return None;
                }
                let meta = tokio::fs::metadata(&path).await.ok()?;
                if !meta.is_file() {
                    return None;
                }
                // Modification time and size, as nginx does: no need to read
                // (let alone hash) a file to answer a revalidation.
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                let mime = mime_guess::from_path(&named).first_or_octet_stream();
                Some(Asset {
                    etag: entity_tag(&format!("{modified:x}-{:x}", meta.len())),
                    content_type: content_type(mime.essence_str()),
                    contents: Contents::OnDisk(path),
                })
            }
        }
    }
}

/// `name` as a path below the directory, or `None` when it could climb out
/// of it (`..`, an absolute path) or names a hidden file (`.env`, `.git/`).
fn inside(name: &str) -> Option<PathBuf> {
    let mut path = PathBuf::new();
    for segment in name.split('/') {
        if segment.starts_with('.') || segment.contains('\\') {
            return None;
        }
        let mut parts = Path::new(segment).components();
        match (parts.next(), parts.next()) {
            (Some(Component::Normal(part)), None) => path.push(part),
            _ => return None,
        }
    }
    Some(path)
}

fn entity_tag(opaque: &str) -> ETag {
    format!("\"{opaque}\"")
        .parse()
        .expect("hex digits and dashes in quotes are a valid entity tag")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The pages are UTF-8 (their `<meta charset>` says so too); saying it in
/// the header also covers the scripts and the style sheet.
fn content_type(mime: &str) -> HeaderValue {
    let value = if mime.starts_with("text/") {
        Cow::Owned(format!("{mime}; charset=utf-8"))
    } else {
        Cow::Borrowed(mime)
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_leave_the_directory_or_reach_hidden_files() {
        assert_eq!(inside("login.js"), Some(PathBuf::from("login.js")));
        assert_eq!(
            inside("avatars/alice.svg"),
            Some(PathBuf::from("avatars/alice.svg"))
        );
        for bad in [
            "../config.toml",
            "avatars/../../x",
            "..",
            ".",
            "./login.js",
            "/etc/passwd",
            "",
            "avatars//alice.svg",
            "avatars/",
            ".env",
            ".git/config",
            "..\\config.toml",
        ] {
            assert_eq!(inside(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn message_pages_escape_their_text() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }

    #[test]
    fn text_is_declared_utf8() {
        assert_eq!(
            content_type("text/javascript"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("image/svg+xml"), "image/svg+xml");
    }
}
