//! A local CyberTipline test server: the reporting API's documented requests and responses
//! (HTTP Basic on every request; `POST /submit` with report XML, `/upload` multipart `id` +
//! `file`, `/fileinfo` with file-details XML, `/finish` and `/retract` with form field `id`;
//! `reportResponse` / `reportDoneResponse` bodies with the documented response codes). Every
//! XML body is validated with xmllint against `docs/schemas/cybertipline.xsd` and refused
//! with code 4100 when it does not validate, as NCMEC refuses what its XSD rejects.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Multipart, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use sha2::Digest as _;

pub const USERNAME: &str = "vigil-test-esp";
pub const PASSWORD: &str = "cybertip-test-password";

/// One report as the server holds it.
#[derive(Debug, Clone, Default)]
pub struct ServerReport {
    pub xml: String,
    /// (file id, original upload name, MD5 of the bytes received, bytes).
    pub files: Vec<(String, String, String, Vec<u8>)>,
    /// The file-details documents received.
    pub details: Vec<String>,
    pub finished: bool,
    pub retracted: bool,
}

/// What the server saw and how it misbehaves.
#[derive(Debug, Default)]
pub struct ServerState {
    pub next_id: i64,
    pub reports: BTreeMap<i64, ServerReport>,
    /// Every request's path, in order.
    pub requests: Vec<String>,
    /// After `uploads_before_fault` good uploads, the next `upload_failures` uploads answer
    /// `upload_fault` (e.g. 4200 malformed file, 1111 upload failed).
    pub upload_fault: Option<i64>,
    pub upload_failures: u32,
    pub uploads_before_fault: u32,
}

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<ServerState>>,
}

impl TestServer {
    /// Starts it on a free loopback port, on the current tokio runtime.
    pub async fn start() -> TestServer {
        let state = Arc::new(Mutex::new(ServerState {
            next_id: 4_564_654,
            ..ServerState::default()
        }));
        let app = axum::Router::new()
            .route("/ispws/status", get(status))
            .route("/ispws/submit", post(submit))
            .route("/ispws/upload", post(upload))
            .route("/ispws/fileinfo", post(fileinfo))
            .route("/ispws/finish", post(finish))
            .route("/ispws/retract", post(retract))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        TestServer { addr, state }
    }

    /// The endpoint URL a config names.
    pub fn url(&self) -> String {
        format!("http://{}/ispws", self.addr)
    }

    /// The `[review.cybertipline]` section for this server, its password in `password_file`.
    pub fn config_section(&self, password_file: &std::path::Path) -> String {
        std::fs::write(password_file, format!("{PASSWORD}\n")).unwrap();
        format!(
            "[review.cybertipline]\nendpoint_url = {:?}\nusername = {USERNAME:?}\n\
             password_file = {:?}\nplatform = \"Example Messenger\"\nattempts = 2\n\
             backoff_ms = 10\ntimeout_ms = 20000\n\
             [review.cybertipline.reporter]\nfirst_name = \"Riley\"\nlast_name = \"Reporter\"\n\
             email = \"safety@example.com\"\nlegal_url = \"https://example.com/legal\"\n",
            self.url(),
            password_file
        )
    }

    pub fn snapshot(&self) -> ServerState {
        let s = self.state.lock().unwrap();
        ServerState {
            next_id: s.next_id,
            reports: s.reports.clone(),
            requests: s.requests.clone(),
            upload_fault: s.upload_fault,
            upload_failures: s.upload_failures,
            uploads_before_fault: s.uploads_before_fault,
        }
    }
}

type Shared = Arc<Mutex<ServerState>>;

fn authorized(headers: &HeaderMap) -> bool {
    let expected =
        base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{PASSWORD}"));
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Basic {expected}"))
}

fn respond(code: i64, report_id: Option<i64>, file: Option<(&str, &str)>) -> Response {
    let description = match code {
        0 => "Success",
        1111 => "File upload failed",
        4000 => "Invalid request",
        4100 => "Validation failed",
        4200 => "Malformed file submittal",
        5001 => "Report does not exist",
        5101 => "Report already retracted",
        5102 => "Report already finished",
        _ => "Error",
    };
    let mut body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\
         <reportResponse><responseCode>{code}</responseCode>\
         <responseDescription>{description}</responseDescription>"
    );
    if let Some(id) = report_id {
        body.push_str(&format!("<reportId>{id}</reportId>"));
    }
    if let Some((file_id, hash)) = file {
        body.push_str(&format!("<fileId>{file_id}</fileId><hash>{hash}</hash>"));
    }
    body.push_str("</reportResponse>");
    let status = match code {
        0 => StatusCode::OK,
        1000..2000 => StatusCode::INTERNAL_SERVER_ERROR,
        5001 => StatusCode::NOT_FOUND,
        5101 | 5102 => StatusCode::CONFLICT,
        _ => StatusCode::BAD_REQUEST,
    };
    (status, [("content-type", "text/xml")], body).into_response()
}

/// Whether `xml` validates against the schema vigil wrote down and, when
/// `$VIGIL_CYBERTIPLINE_XSD` names one, against that schema too (NCMEC's own XSD, which
/// reporting accounts download from `/ispws/xsd`).
pub fn validates(xml: &str) -> Result<(), String> {
    let ours =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schemas/cybertipline.xsd");
    let theirs = std::env::var_os("VIGIL_CYBERTIPLINE_XSD").map(std::path::PathBuf::from);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), xml).unwrap();
    for schema in std::iter::once(ours).chain(theirs) {
        let out = std::process::Command::new("xmllint")
            .args(["--noout", "--schema"])
            .arg(&schema)
            .arg(file.path())
            .output()
            .expect("xmllint (Debian libxml2-utils) validates the CyberTipline XML");
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
    }
    Ok(())
}

fn element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<{name}>"))? + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>"))? + start;
    Some(xml[start..end].to_string())
}

fn log(state: &Shared, path: &str) {
    state.lock().unwrap().requests.push(path.to_string());
}

async fn status(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    log(&state, "status");
    respond(0, None, None)
}

async fn submit(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    log(&state, "submit");
    if validates(&body).is_err() || !body.contains("<report ") {
        return respond(4100, None, None);
    }
    let mut s = state.lock().unwrap();
    s.next_id += 1;
    let id = s.next_id;
    s.reports.insert(
        id,
        ServerReport {
            xml: body,
            ..ServerReport::default()
        },
    );
    respond(0, Some(id), None)
}

async fn upload(State(state): State<Shared>, headers: HeaderMap, mut form: Multipart) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    log(&state, "upload");
    let (mut id, mut file) = (None, None);
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("id") => id = field.text().await.ok().and_then(|t| t.parse::<i64>().ok()),
            Some("file") => {
                let name = field.file_name().unwrap_or_default().to_string();
                file = field.bytes().await.ok().map(|b| (name, b.to_vec()));
            }
            _ => {}
        }
    }
    let (Some(id), Some((name, bytes))) = (id, file) else {
        return respond(4000, None, None);
    };
    let mut s = state.lock().unwrap();
    if s.uploads_before_fault > 0 {
        s.uploads_before_fault -= 1;
    } else if let Some(code) = s.upload_fault
        && s.upload_failures > 0
    {
        s.upload_failures -= 1;
        return respond(code, Some(id), None);
    }
    let Some(report) = s.reports.get_mut(&id) else {
        return respond(5001, Some(id), None);
    };
    if report.finished {
        return respond(5102, Some(id), None);
    }
    if report.retracted {
        return respond(5101, Some(id), None);
    }
    let md5 = hex::encode(md5::Md5::digest(&bytes));
    let file_id = hex::encode(&sha2::Sha256::digest(format!("{id}/{}", report.files.len()))[..16]);
    report
        .files
        .push((file_id.clone(), name, md5.clone(), bytes));
    respond(0, Some(id), Some((&file_id, &md5)))
}

async fn fileinfo(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    log(&state, "fileinfo");
    if validates(&body).is_err() {
        return respond(4100, None, None);
    }
    let id = element(&body, "reportId").and_then(|i| i.parse::<i64>().ok());
    let file_id = element(&body, "fileId");
    let mut s = state.lock().unwrap();
    let Some((id, report)) = id.and_then(|id| s.reports.get_mut(&id).map(|r| (id, r))) else {
        return respond(5001, id, None);
    };
    if !report.files.iter().any(|f| Some(&f.0) == file_id.as_ref()) {
        return respond(5002, Some(id), None);
    }
    report.details.push(body);
    respond(0, Some(id), None)
}

#[derive(serde::Deserialize)]
struct IdForm {
    id: i64,
}

async fn finish(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<IdForm>,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    log(&state, "finish");
    let mut s = state.lock().unwrap();
    let Some(report) = s.reports.get_mut(&form.id) else {
        return respond(5001, Some(form.id), None);
    };
    if report.retracted {
        return respond(5101, Some(form.id), None);
    }
    if report.finished {
        return respond(5102, Some(form.id), None);
    }
    report.finished = true;
    let files: String = report
        .files
        .iter()
        .map(|f| format!("<fileId>{}</fileId>", f.0))
        .collect();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><reportDoneResponse>\
         <responseCode>0</responseCode><reportId>{}</reportId><files>{files}</files>\
         </reportDoneResponse>",
        form.id
    );
    (StatusCode::OK, [("content-type", "text/xml")], body).into_response()
}

async fn retract(
    State(state): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<IdForm>,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    log(&state, "retract");
    let mut s = state.lock().unwrap();
    let Some(report) = s.reports.get_mut(&form.id) else {
        return respond(5001, Some(form.id), None);
    };
    if report.finished {
        return respond(5102, Some(form.id), None);
    }
    if report.retracted {
        return respond(5101, Some(form.id), None);
    }
    report.retracted = true;
    respond(0, Some(form.id), None)
}
