//! What the `/device` pages say, in English and Chinese (the login and phone
//! pages' two languages), picked as for those pages (`language.rs`):
//! these pages are server-rendered, so the choice is made here rather than
//! by the pages' script. `{name}`-style holes are filled by [`fill`], which
//! escapes what goes in.

use super::language;
use super::page_strings::PageLang;
use super::pages::escape;
use axum::http::HeaderMap;

/// One language's texts.
#[derive(Debug)]
pub struct Words {
    /// `<html lang>`.
    pub lang: &'static str,
    pub title: &'static str,
    pub confirm_title: &'static str,
    pub scan_with_app: &'static str,
    pub no_app: &'static str,
    pub log_in: &'static str,
    pub demo_phone: &'static str,
    pub enter_code: &'static str,
    pub continue_: &'static str,
    pub type_it_yourself: &'static str,
    pub unreadable_form: &'static str,
    pub choose: &'static str,
    pub not_a_code: &'static str,
    pub no_such_code: &'static str,
    pub expired: &'static str,
    pub sign_in_to: &'static str,
    pub check_code: &'static str,
    pub stays: &'static str,
    pub asked_from: &'static str,
    pub unknown_device: &'static str,
    pub a_device: &'static str,
    pub allow: &'static str,
    pub deny: &'static str,
    pub allowed_title: &'static str,
    pub allowed: &'static str,
    pub denied_title: &'static str,
    pub denied: &'static str,
    pub refused_title: &'static str,
    pub claimed: &'static str,
    pub decided: &'static str,
    pub gone: &'static str,
    pub cross_site_title: &'static str,
    pub cross_site: &'static str,
}

pub const EN: Words = Words {
    lang: "en",
    title: "Sign in on your device",
    confirm_title: "Sign in on your device?",
    scan_with_app: "To sign in on your TV or other device, scan the QR code it shows with the \
                    qrlogin app on your phone, and confirm there.",
    no_app: "No app at hand? Log in here first, then enter the code your device shows.",
    log_in: "Log in",
    demo_phone: "Demo: confirm with the phone simulator",
    enter_code: "Enter the code your device shows",
    continue_: "Continue",
    type_it_yourself: "For your safety, type the code your device shows.",
    unreadable_form: "The form could not be read.",
    choose: "Choose whether to allow or deny the device.",
    not_a_code: "That is not a device code: it has 8 letters, like WDJB-MJHT.",
    no_such_code: "No device is waiting with that code. Check it, or start again on the device.",
    expired: "This code has expired. Start again on the device.",
    sign_in_to: "Sign in to <strong>{client}</strong> as {name}?",
    check_code: "Only continue if the device is in front of you and shows \
                 <strong id=\"code\">{code}</strong>.",
    stays: "It stays signed in until you sign it out from the app's list of logins.",
    asked_from: "Asked from {ip}; the device says it is: {ua}.",
    unknown_device: "unknown device",
    a_device: "a device",
    allow: "Allow",
    deny: "Deny",
    allowed_title: "Device signed in",
    allowed: "The device showing {code} is signing in as {name}. You can close this page.",
    denied_title: "Device denied",
    denied: "The device showing {code} was not signed in.",
    refused_title: "Not signed in",
    claimed: "Another account is already confirming this device.",
    decided: "This device's sign-in was already allowed or denied.",
    gone: "No device is waiting with that code. Start again on the device.",
    cross_site_title: "Request refused",
    cross_site: "This form can only be sent from this site.",
};

pub const ZH: Words = Words {
    lang: "zh-CN",
    title: "在设备上登录",
    confirm_title: "在设备上登录？",
    scan_with_app: "要在电视或其他设备上登录，请用手机上的 qrlogin 应用扫描设备显示的二维码，并在手机上确认。",
    no_app: "手边没有应用？请先在此登录，然后输入设备上显示的代码。",
    log_in: "登录",
    demo_phone: "演示：用手机模拟器确认",
    enter_code: "输入设备上显示的代码",
    continue_: "继续",
    type_it_yourself: "为了你的安全，请亲手输入设备上显示的代码。",
    unreadable_form: "无法读取表单。",
    choose: "请选择允许或拒绝该设备。",
    not_a_code: "这不是设备代码：设备代码由 8 个字母组成，例如 WDJB-MJHT。",
    no_such_code: "没有设备在等待这个代码。请检查代码，或在设备上重新开始。",
    expired: "该代码已过期。请在设备上重新开始。",
    sign_in_to: "以 {name} 的身份登录 <strong>{client}</strong>？",
    check_code: "仅当该设备就在你面前并显示 <strong id=\"code\">{code}</strong> 时才继续。",
    stays: "它会保持登录，直到你在应用的登录列表中将其退出。",
    asked_from: "请求来自 {ip}；设备自称：{ua}。",
    unknown_device: "未知设备",
    a_device: "一台设备",
    allow: "允许",
    deny: "拒绝",
    allowed_title: "设备已登录",
    allowed: "显示 {code} 的设备正在以 {name} 的身份登录。你可以关闭此页面。",
    denied_title: "已拒绝设备",
    denied: "显示 {code} 的设备未被登录。",
    refused_title: "未登录",
    claimed: "另一个账号正在确认这台设备。",
    decided: "这台设备的登录已被允许或拒绝。",
    gone: "没有设备在等待这个代码。请在设备上重新开始。",
    cross_site_title: "请求被拒绝",
    cross_site: "此表单只能从本站提交。",
};

/// The request's language, as the login and phone pages choose it
/// (their switch's cookie, else `Accept-Language`).
pub fn for_request(headers: &HeaderMap) -> &'static Words {
    match language::for_request(headers) {
        PageLang::Zh => &ZH,
        PageLang::En => &EN,
    }
}

/// `template` with each `{key}` replaced by its value, escaped for HTML.
/// The template itself is ours and may hold markup.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    values
        .iter()
        .fold(template.to_owned(), |text, (key, value)| {
            text.replace(&format!("{{{key}}}"), &escape(value))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    fn asking(accept: &str) -> &'static str {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_LANGUAGE, accept.parse().unwrap());
        for_request(&headers).lang
    }

    #[test]
    fn chinese_only_when_the_browser_prefers_it() {
        assert_eq!(for_request(&HeaderMap::new()).lang, "en");
        assert_eq!(asking("zh-CN,zh;q=0.9,en;q=0.8"), "zh-CN");
        assert_eq!(asking("zh-TW"), "zh-CN");
        assert_eq!(asking("en-US,en;q=0.9,zh-CN;q=0.8"), "en");
        assert_eq!(asking("fr-FR,zh;q=0.5"), "zh-CN");
        assert_eq!(asking("fr-FR"), "en");
        assert_eq!(asking("*"), "en");
    }

    #[test]
    fn holes_are_filled_escaped() {
        assert_eq!(
            fill(
                "{name} & {code}",
                &[("name", "<b>Bob</b>"), ("code", "WDJB-MJHT")]
            ),
            "&lt;b&gt;Bob&lt;/b&gt; & WDJB-MJHT"
        );
    }
}
