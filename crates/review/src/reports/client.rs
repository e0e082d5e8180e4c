//! The CyberTipline reporting API over HTTPS: HTTP Basic on every request; `POST /submit`
//! (report XML) opens a report, `POST /upload` (multipart `id`, `file`) adds a file,
//! `POST /fileinfo` (file-details XML) describes it, `POST /finish` (form `id`) submits the
//! report, `POST /retract` (form `id`) cancels an unfinished one. Every answer is a
//! `reportResponse` (`reportDoneResponse` for finish) whose `responseCode` 0 means success.
//!
//! A request is tried again (up to `attempts`, the wait doubling from `backoff_ms`) when
//! NCMEC answers with a server error or the connection failed before it was sent, and also
//! on a timeout where repeating is harmless: an open that may have reached NCMEC leaves at
//! most an unfinished report, which NCMEC deletes within a day; an upload is never repeated
//! after a timeout, since it may have added the file once already.

use std::time::Duration;

use md5::Digest as _;
use reqwest::multipart::{Form, Part};

use super::xml::{self, Response};
use crate::config::CyberTiplineConfig;

/// The step of the flow a failure happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// `POST /submit`.
    Open,
    /// `POST /upload`.
    Upload,
    /// `POST /fileinfo`.
    FileInfo,
    /// `POST /finish`.
    Finish,
    /// `POST /retract`.
    Retract,
}

impl Step {
    fn path(self) -> &'static str {
        match self {
            Step::Open => "submit",
            Step::Upload => "upload",
            Step::FileInfo => "fileinfo",
            Step::Finish => "finish",
            Step::Retract => "retract",
        }
    }
}

/// Why a request to the CyberTipline failed. Never quotes the report.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// No answer (connection refused, reset, timed out) after every try.
    #[error("{} unreachable after {attempts} tries: {detail}", step.path())]
    Unreachable {
        /// The step.
        step: Step,
        /// How many tries.
        attempts: u32,
        /// What the HTTP client said (no URL credentials, no body).
        detail: String,
    },
    /// HTTP 401: the user name or password is wrong.
    #[error("{}: NCMEC refused the credentials (HTTP 401)", step.path())]
    Unauthorized {
        /// The step.
        step: Step,
    },
    /// NCMEC answered with a non-zero response code.
    #[error("{}: NCMEC response code {code} ({description})", step.path())]
    Refused {
        /// The step.
        step: Step,
        /// The documented response code.
        code: i64,
        /// NCMEC's description of it.
        description: String,
    },
    /// The answer was not a response document.
    #[error("{}: HTTP {status} without a response document", step.path())]
    Unreadable {
        /// The step.
        step: Step,
        /// The HTTP status.
        status: u16,
    },
    /// NCMEC's MD5 of an uploaded file is not the file's.
    #[error("upload: NCMEC computed MD5 {theirs} for a file whose MD5 is {ours}")]
    HashMismatch {
        /// Ours.
        ours: String,
        /// NCMEC's.
        theirs: String,
    },
    /// A success without the id it should carry.
    #[error("{}: a success without the report or file id", step.path())]
    Incomplete {
        /// The step.
        step: Step,
    },
}

impl ClientError {
    /// A short reason code for the report's record and the access log.
    pub fn reason(&self) -> String {
        match self {
            ClientError::Unreachable { step, .. } => format!("{}_unreachable", step.path()),
            ClientError::Unauthorized { .. } => "unauthorized".into(),
            ClientError::Refused { step, code, .. } => format!("{}_refused_{code}", step.path()),
            ClientError::Unreadable { step, status } => format!("{}_http_{status}", step.path()),
            ClientError::HashMismatch { .. } => "upload_hash_mismatch".into(),
            ClientError::Incomplete { step } => format!("{}_incomplete", step.path()),
        }
    }
}

/// Response codes the documentation lists as the server failing (server error, save failed,
/// upload failed, file upload failed, update failed): worth another try.
const SERVER_FAILURES: [i64; 5] = [1000, 1100, 1110, 1111, 1300];
/// Report does not exist (NCMEC deleted an unfinished report, or never opened it).
pub const REPORT_DOES_NOT_EXIST: i64 = 5001;
/// Report already retracted.
pub const ALREADY_RETRACTED: i64 = 5101;
/// Report already finished.
pub const ALREADY_FINISHED: i64 = 5102;

/// A client of one CyberTipline endpoint, as one reporting account.
pub struct CyberTipline {
    http: reqwest::Client,
    base: String,
    username: String,
    password: String,
    attempts: u32,
    backoff: Duration,
}

impl std::fmt::Debug for CyberTipline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CyberTipline")
            .field("base", &self.base)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// An uploaded file, as NCMEC acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// NCMEC's file id.
    pub file_id: String,
    /// NCMEC's MD5 of it, equal to ours.
    pub md5: String,
}

impl CyberTipline {
    /// A client as `config` says, its password read from `config.password_file`.
    pub fn new(config: &CyberTiplineConfig) -> Result<CyberTipline, std::io::Error> {
        let password = std::fs::read_to_string(&config.password_file).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "review.cybertipline.password_file {}: {e}",
                    config.password_file.display()
                ),
            )
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .connect_timeout(Duration::from_millis(config.timeout_ms.min(10_000)))
            .build()
            .map_err(std::io::Error::other)?;
        Ok(CyberTipline {
            http,
            base: config.endpoint_url.trim_end_matches('/').to_string(),
            username: config.username.clone(),
            password: password.trim_end_matches(['\r', '\n']).to_string(),
            attempts: config.attempts.max(1),
            backoff: Duration::from_millis(config.backoff_ms),
        })
    }

    /// One step, tried again while that can help; the response if its code is 0.
    async fn call(
        &self,
        step: Step,
        retry_timeouts: bool,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Response, ClientError> {
        let mut wait = self.backoff;
        let mut tries = 0;
        loop {
            tries += 1;
            let last = tries >= self.attempts;
            let sent = request()
                .basic_auth(&self.username, Some(&self.password))
                .send()
                .await;
            let answer = match sent {
                Ok(answer) => answer,
                Err(e) => {
                    let again = e.is_connect() || (retry_timeouts && e.is_timeout());
                    if again && !last {
                        tokio::time::sleep(wait).await;
                        wait *= 2;
                        continue;
                    }
                    return Err(ClientError::Unreachable {
                        step,
                        attempts: tries,
                        detail: transport_detail(&e),
                    });
                }
            };
            let status = answer.status().as_u16();
            if status == 401 {
                return Err(ClientError::Unauthorized { step });
            }
            let body = answer.text().await.unwrap_or_default();
            let response = xml::response(&body);
            let server_failed = match &response {
                Some(r) => SERVER_FAILURES.contains(&r.code),
                None => status >= 500 || status == 429,
            };
            if server_failed && !last {
                tokio::time::sleep(wait).await;
                wait *= 2;
                continue;
            }
            return match response {
                Some(r) if r.code == 0 => Ok(r),
                Some(r) => Err(ClientError::Refused {
                    step,
                    code: r.code,
                    description: r.description.chars().take(200).collect(),
                }),
                None => Err(ClientError::Unreadable { step, status }),
            };
        }
    }

    fn post(&self, step: Step) -> reqwest::RequestBuilder {
        self.http.post(format!("{}/{}", self.base, step.path()))
    }

    fn post_xml(&self, step: Step, xml: &str) -> reqwest::RequestBuilder {
        self.post(step)
            .header("content-type", "text/xml; charset=utf-8")
            .body(xml.to_string())
    }

    /// `POST /submit`: opens a report; NCMEC's report id.
    pub async fn open(&self, report_xml: &str) -> Result<i64, ClientError> {
        let response = self
            .call(Step::Open, true, || self.post_xml(Step::Open, report_xml))
            .await?;
        response
            .report_id
            .ok_or(ClientError::Incomplete { step: Step::Open })
    }

    /// `POST /upload`: adds `bytes` as `file_name` to report `report_id`, checking NCMEC's
    /// MD5 against the bytes'.
    pub async fn upload(
        &self,
        report_id: i64,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<Uploaded, ClientError> {
        let ours = hex::encode(md5::Md5::digest(bytes));
        let response = self
            .call(Step::Upload, false, || {
                let file = Part::bytes(bytes.to_vec()).file_name(file_name.to_string());
                let form = Form::new()
                    .text("id", report_id.to_string())
                    .part("file", file);
                self.post(Step::Upload).multipart(form)
            })
            .await?;
        let (Some(file_id), Some(theirs)) = (response.file_id, response.hash) else {
            return Err(ClientError::Incomplete { step: Step::Upload });
        };
        if !theirs.eq_ignore_ascii_case(&ours) {
            return Err(ClientError::HashMismatch { ours, theirs });
        }
        Ok(Uploaded { file_id, md5: ours })
    }

    /// `POST /fileinfo`: a file's details.
    pub async fn file_info(&self, details_xml: &str) -> Result<(), ClientError> {
        self.call(Step::FileInfo, true, || {
            self.post_xml(Step::FileInfo, details_xml)
        })
        .await
        .map(drop)
    }

    /// `POST /finish`: submits report `report_id`; the file ids NCMEC has, or `None` when it
    /// was finished already (a repeat after a lost answer).
    pub async fn finish(&self, report_id: i64) -> Result<Option<Vec<String>>, ClientError> {
        let id = report_id.to_string();
        match self
            .call(Step::Finish, true, || {
                self.post(Step::Finish).form(&[("id", id.as_str())])
            })
            .await
        {
            Ok(done) => Ok(Some(done.files)),
            Err(ClientError::Refused {
                code: ALREADY_FINISHED,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `POST /retract`: cancels unfinished report `report_id` (done if it was already).
    pub async fn retract(&self, report_id: i64) -> Result<(), ClientError> {
        let id = report_id.to_string();
        match self
            .call(Step::Retract, true, || {
                self.post(Step::Retract).form(&[("id", id.as_str())])
            })
            .await
        {
            Ok(_)
            | Err(ClientError::Refused {
                code: ALREADY_RETRACTED | REPORT_DOES_NOT_EXIST,
                ..
            }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// What went wrong in transport, without the URL (it may carry credentials) or a body.
fn transport_detail(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "the connection failed".into()
    }
}
