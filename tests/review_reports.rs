//! CyberTipline reports against a real PostgreSQL and the local CyberTipline test server
//! (`review_support::cybertip`, which validates every XML body against
//! docs/schemas/cybertipline.xsd): a lead prepares a case's report and submits it; the stored
//! report id, the uploaded files' MD5s and the access log match what the server received; a
//! failed upload retracts the report; a resubmission never creates a second report; a
//! finished report holds its flags a year from the report.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use std::time::Duration;

use md5::Digest as _;
use review_support::cybertip::{TestServer, validates};
use review_support::{Client, runtime};
use vigil_review::Store;
use vigil_review::accounts::{Reviewer, Role};
use vigil_review::config::CyberTiplineConfig;
use vigil_review::decisions::Decision;
use vigil_review::holds::HoldKind;
use vigil_review::reports::{
    ClientError, CyberTipline, IncidentType, ReportError, ReportStatus, Submitted, xml,
};

const YEAR: Duration = Duration::from_secs(365 * 86_400);
const SENDER: &str = review_support::CASE_SENDER;

fn config(server: &TestServer, dir: &std::path::Path) -> CyberTiplineConfig {
    let section = server.config_section(&dir.join("password"));
    let parsed: toml::Table = toml::from_str(&section).unwrap();
    let table = parsed["review"]["cybertipline"].clone();
    table.try_into().unwrap()
}

/// `xml` without the line breaks and indentation between elements.
fn compact(xml: &str) -> String {
    xml.lines().map(str::trim_start).collect()
}

/// The access log's (action, detail) rows of report actions, oldest first.
async fn report_log(store: &Store) -> Vec<(String, String)> {
    sqlx::query_as("SELECT action, detail FROM access_log WHERE action LIKE 'report%' ORDER BY id")
        .fetch_all(store.pool())
        .await
        .unwrap()
}

struct Setup {
    store: Store,
    lead: Reviewer,
    flags: Vec<(String, Vec<u8>)>,
    server: TestServer,
    config: CyberTiplineConfig,
    client: CyberTipline,
    _dir: tempfile::TempDir,
}

async fn setup(name: &str) -> Setup {
    let db = review_support::fresh_database(name).await;
    let store = review_support::sealed_store(&db).await;
    let rita = store
        .add_reviewer("rita", Role::Reviewer, None)
        .await
        .unwrap();
    let lead = store.add_reviewer("lena", Role::Lead, None).await.unwrap();
    let mut flags = Vec::new();
    for message in ["m-1", "m-2"] {
        let flag = review_support::image_flag(&store, message).await;
        review_support::confirm(&store, &rita, &flag.0).await;
        flags.push(flag);
    }
    // A false positive of the same account is not reported.
    let (fp, _) = review_support::image_flag(&store, "m-3").await;
    store
        .claim(&rita, &fp, Duration::from_secs(60))
        .await
        .unwrap();
    store
        .decide(&rita, &fp, Decision::FalsePositive, "", "127.0.0.1", YEAR)
        .await
        .unwrap();
    let server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&server, dir.path());
    let client = CyberTipline::new(&config).unwrap();
    Setup {
        store,
        lead,
        flags,
        server,
        config,
        client,
        _dir: dir,
    }
}

#[test]
fn a_submitted_report_matches_what_the_cybertipline_received_and_holds_its_flags() {
    runtime().block_on(async {
        let s = setup("reports_submitted").await;
        let id = s
            .store
            .prepare_report(
                &s.lead,
                SENDER,
                IncidentType::ChildPornography,
                "Two images matched NCMEC's list & were confirmed.",
                "127.0.0.1",
            )
            .await
            .unwrap();
        let report = s.store.report(id).await.unwrap().unwrap();
        assert_eq!(report.status, ReportStatus::Draft);
        assert_eq!(report.files.len(), 2, "{report:?}");
        let document = s.store.report_document(&report).await.unwrap();
        let xml = xml::report(&document, &s.config);
        validates(&xml).unwrap();

        let submitted = s
            .store
            .submit_report(&s.client, &s.config, &s.lead, id, YEAR, "127.0.0.1")
            .await
            .unwrap();
        let Submitted::Finished {
            report_id,
            file_ids,
        } = submitted
        else {
            panic!("{submitted:?}")
        };
        let server = s.server.snapshot();
        assert_eq!(server.reports.len(), 1);
        let received = &server.reports[&report_id];
        assert!(received.finished && !received.retracted);

        // The stored report id and files are the server's; every MD5 is the original's.
        let report = s.store.report(id).await.unwrap().unwrap();
        assert_eq!(report.status, ReportStatus::Finished);
        assert_eq!(report.report_id, Some(report_id));
        let stored_ids: Vec<String> = report.files.iter().filter_map(|f| f.file_id.clone()).collect();
        assert_eq!(stored_ids, file_ids);
        let server_ids: Vec<String> = received.files.iter().map(|f| f.0.clone()).collect();
        assert_eq!(server_ids, file_ids);
        for (file, (_, original)) in report.files.iter().zip(&s.flags) {
            let md5 = hex::encode(md5::Md5::digest(original));
            assert_eq!(file.md5, md5);
            let on_server = received.files.iter().find(|f| Some(&f.0) == file.file_id.as_ref());
            assert_eq!(on_server.unwrap().2, md5);
            assert_eq!(&on_server.unwrap().3, original);
        }
        assert_eq!(received.files[0].1, "IMG_m-1.png");

        // What the report says: the account, its address, device and e-mail, the reporter,
        // the lead's summary escaped; each file's details with its hashes and list entry.
        for needle in [
            "<incidentType>Child Pornography (possession, manufacture, and distribution)</incidentType>",
            "<espIdentifier>u-1</espIdentifier>",
            "<ipAddress>203.0.113.7</ipAddress>",
            "<idValue>device-42</idValue>",
            "<email>sender@example.org</email>",
            "<email>safety@example.com</email>",
            "NCMEC's list &amp; were confirmed.",
        ] {
            assert!(received.xml.contains(needle), "{needle} missing:\n{}", received.xml);
        }
        assert_eq!(received.details.len(), 2);
        let details = &compact(&received.details[0]);
        for needle in [
            format!("<reportId>{report_id}</reportId>"),
            format!("<originalFileHash hashType=\"MD5\">{}</originalFileHash>", report.files[0].md5),
            "<originalFileName>IMG_m-1.png</originalFileName>".to_string(),
            "<publiclyAvailable>false</publiclyAvailable>".to_string(),
            "<fileViewedByEsp>false</fileViewedByEsp>".to_string(),
            "<name>match1.entry</name><value>entry-77</value>".to_string(),
            "<name>match1.list</name><value>ncmec-hashes</value>".to_string(),
        ] {
            assert!(details.contains(&needle), "{needle} missing:\n{details}");
        }

        // Every step is in the access log, with NCMEC's ids and the MD5s.
        let log = report_log(&s.store).await;
        let actions: Vec<&str> = log.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(
            actions,
            [
                "report_prepared",
                "report_opened",
                "report_file_uploaded",
                "report_file_uploaded",
                "report_finished"
            ]
        );
        assert!(log[1].1.contains(&format!("ncmec_report={report_id}")));
        for (row, file) in log[2..4].iter().zip(&report.files) {
            assert!(row.1.contains(&format!("md5={}", file.md5)), "{row:?}");
            assert!(row.1.contains(file.file_id.as_deref().unwrap()), "{row:?}");
        }

        // The reported flags are held a year from the report.
        for (flag_id, _) in &s.flags {
            let holds = s.store.holds_of(flag_id).await.unwrap();
            let reported: Vec<_> = holds.iter().filter(|h| h.kind == HoldKind::Reported).collect();
            assert_eq!(reported.len(), 1, "{holds:?}");
            assert_eq!(reported[0].reference, format!("CyberTipline report {report_id}"));
            assert_eq!((reported[0].expires_at - reported[0].placed_at).whole_days(), 365);
        }

        // Submitting again sends nothing and creates no second report; preparing again is
        // refused.
        let requests = s.server.snapshot().requests.len();
        let again = s
            .store
            .submit_report(&s.client, &s.config, &s.lead, id, YEAR, "127.0.0.1")
            .await
            .unwrap();
        assert_eq!(again, Submitted::AlreadyFinished { report_id });
        assert_eq!(s.server.snapshot().requests.len(), requests);
        assert_eq!(s.server.snapshot().reports.len(), 1);
        let refused = s
            .store
            .prepare_report(&s.lead, SENDER, IncidentType::ChildPornography, "again", "")
            .await
            .unwrap_err();
        assert!(matches!(refused, ReportError::AlreadyReported(r) if r == report_id));
    });
}

#[test]
fn a_failed_upload_retracts_the_report_and_the_case_can_be_submitted_once_after() {
    runtime().block_on(async {
        let s = setup("reports_retracted").await;
        let id = s
            .store
            .prepare_report(
                &s.lead,
                SENDER,
                IncidentType::ChildPornography,
                "summary",
                "",
            )
            .await
            .unwrap();
        {
            // The first file goes up; the second is refused for good.
            let mut state = s.server.state.lock().unwrap();
            state.uploads_before_fault = 1;
            state.upload_fault = Some(4200);
            state.upload_failures = 1;
        }
        let failed = s
            .store
            .submit_report(&s.client, &s.config, &s.lead, id, YEAR, "127.0.0.1")
            .await
            .unwrap_err();
        assert!(
            matches!(
                failed,
                ReportError::Client(ClientError::Refused { code: 4200, .. })
            ),
            "{failed:?}"
        );
        let server = s.server.snapshot();
        assert_eq!(server.reports.len(), 1);
        let (&retracted_id, retracted) = server.reports.iter().next().unwrap();
        assert!(retracted.retracted && !retracted.finished);
        assert_eq!(
            server.requests,
            ["submit", "upload", "fileinfo", "upload", "retract"]
        );
        assert_eq!(retracted.files.len(), 1);
        let report = s.store.report(id).await.unwrap().unwrap();
        assert_eq!(report.status, ReportStatus::Draft);
        assert_eq!(report.report_id, None);
        assert_eq!(report.retracted_ids, [retracted_id]);
        assert_eq!(report.last_error.as_deref(), Some("upload_refused_4200"));
        assert!(report.files.iter().all(|f| f.file_id.is_none()));
        let log = report_log(&s.store).await;
        assert_eq!(log.last().unwrap().0, "report_retracted");
        assert!(
            log.last()
                .unwrap()
                .1
                .contains(&format!("ncmec_report={retracted_id}"))
        );
        assert!(
            s.store
                .holds_of(&s.flags[0].0)
                .await
                .unwrap()
                .iter()
                .all(|h| h.kind != HoldKind::Reported)
        );

        // Submitted again it opens one new report and finishes it; a third time sends nothing.
        let Submitted::Finished { report_id, .. } = s
            .store
            .submit_report(&s.client, &s.config, &s.lead, id, YEAR, "127.0.0.1")
            .await
            .unwrap()
        else {
            panic!("not finished")
        };
        assert_ne!(report_id, retracted_id);
        let again = s
            .store
            .submit_report(&s.client, &s.config, &s.lead, id, YEAR, "127.0.0.1")
            .await
            .unwrap();
        assert_eq!(again, Submitted::AlreadyFinished { report_id });
        let server = s.server.snapshot();
        let finished = server.reports.values().filter(|r| r.finished).count();
        assert_eq!((server.reports.len(), finished), (2, 1));
    });
}

#[test]
fn server_errors_are_tried_again_within_one_submission() {
    runtime().block_on(async {
        let s = setup("reports_resumed").await;
        let id = s
            .store
            .prepare_report(
                &s.lead,
                SENDER,
                IncidentType::ChildPornography,
                "summary",
                "",
            )
            .await
            .unwrap();
        // One "upload failed" (1111) is retried within the same submission (attempts = 2).
        {
            let mut state = s.server.state.lock().unwrap();
            state.upload_fault = Some(1111);
            state.upload_failures = 1;
        }
        let done = s
            .store
            .submit_report(&s.client, &s.config, &s.lead, id, YEAR, "")
            .await
            .unwrap();
        assert!(matches!(done, Submitted::Finished { .. }), "{done:?}");
        let server = s.server.snapshot();
        assert_eq!(
            server.requests,
            [
                "submit", "upload", "upload", "fileinfo", "upload", "fileinfo", "finish"
            ]
        );
        assert_eq!(server.reports.values().next().unwrap().files.len(), 2);
    });
}

#[test]
fn the_xml_vigil_writes_validates_and_a_broken_document_does_not() {
    // The validator is real: a report without its reporter is refused.
    let broken = "<?xml version=\"1.0\"?><report><incidentSummary><incidentType>Child Sex Tourism\
        </incidentType><incidentDateTime>2026-01-01T00:00:00Z</incidentDateTime></incidentSummary>\
        </report>";
    assert!(validates(broken).is_err());
    let wrong_type = "<?xml version=\"1.0\"?><fileDetails><reportId>1</reportId><fileId>f</fileId>\
        <fileRelevance>Important</fileRelevance></fileDetails>";
    assert!(validates(wrong_type).is_err());
    let details = xml::file_details(&xml::FileDocument {
        report_id: 42,
        file_id: "b0754af766b426f2928a02c651ed4b99",
        original_name: "a <strange> & \"name\".jpg",
        uploaded_at: time::OffsetDateTime::UNIX_EPOCH,
        viewed: true,
        md5: "fafa5efeaf3cbe3b23b2748d13e629a1",
        sha256: "00",
        ip_address: Some("2001:db8::1".parse().unwrap()),
        matches: vec![("match1.entry".into(), "e-1".into())],
        note: Some("a frame".into()),
    });
    validates(&details).unwrap();
}

/// A console whose `[review.cybertipline]` is the local test server, with [`SENDER`]'s case
/// of two confirmed image flags stored; the flags' ids and image bytes.
struct ConsoleCase {
    console: review_support::Console,
    server: TestServer,
    flags: Vec<(String, Vec<u8>)>,
    _dir: tempfile::TempDir,
}

fn console_with_case(rt: &tokio::runtime::Runtime) -> ConsoleCase {
    let server = rt.block_on(TestServer::start());
    let dir = tempfile::tempdir().unwrap();
    let section = server.config_section(&dir.path().join("password"));
    let (console, _) = review_support::quiet_console(
        &section,
        &[("rita", "reviewer"), ("lena", "lead"), ("aldo", "auditor")],
    );
    let flags = rt.block_on(async {
        let url = vigil_core::config::Secret::new(console.database_url());
        let store = review_support::sealed_store(&url).await;
        let rita = store.find_reviewer("rita").await.unwrap().unwrap();
        let mut flags = Vec::new();
        for message in ["m-1", "m-2"] {
            let flag = review_support::image_flag(&store, message).await;
            review_support::confirm(&store, &rita, &flag.0).await;
            flags.push(flag);
        }
        flags
    });
    ConsoleCase {
        console,
        server,
        flags,
        _dir: dir,
    }
}

#[test]
fn in_chromium_a_lead_builds_a_case_report_and_submits_it_once() {
    let rt = runtime();
    let case = console_with_case(&rt);
    review_support::run_browser("report.mjs", &case.console, &[("SENDER", SENDER)]);
    let server = case.server.snapshot();
    assert_eq!(server.reports.len(), 1);
    let (report_id, received) = server.reports.iter().next().unwrap();
    assert!(received.finished && !received.retracted);
    let stored = review_support::query_rows(
        &case.console,
        "SELECT status || ' ' || report_id FROM reports",
    );
    assert_eq!(stored, [format!("finished {report_id}")]);
    let md5s: Vec<String> = case
        .flags
        .iter()
        .map(|(_, bytes)| hex::encode(md5::Md5::digest(bytes)))
        .collect();
    let received_md5s: Vec<&str> = received.files.iter().map(|f| f.2.as_str()).collect();
    assert_eq!(received_md5s, md5s);
    let stored_md5s = review_support::query_rows(
        &case.console,
        "SELECT md5 FROM report_files ORDER BY ordinal",
    );
    assert_eq!(stored_md5s, md5s);
    let logged = review_support::query_rows(
        &case.console,
        "SELECT action FROM access_log WHERE action LIKE 'report%' ORDER BY id",
    );
    assert_eq!(
        logged,
        [
            "report_prepared",
            "report_opened",
            "report_file_uploaded",
            "report_file_uploaded",
            "report_finished"
        ]
    );
    let uploads = review_support::query_rows(
        &case.console,
        "SELECT detail FROM access_log WHERE action = 'report_file_uploaded' ORDER BY id",
    );
    for ((detail, md5), file) in uploads.iter().zip(&md5s).zip(&received.files) {
        assert!(detail.contains(&format!("md5={md5}")), "{detail}");
        assert!(
            detail.contains(&format!("ncmec_file={}", file.0)),
            "{detail}"
        );
    }
}

#[test]
fn in_the_console_a_lead_reads_the_report_before_submitting_it_and_only_leads_may() {
    let rt = runtime();
    let ConsoleCase {
        console,
        server,
        flags,
        _dir,
    } = console_with_case(&rt);
    let page = format!("/case/report?sender={SENDER}");

    // Reviewers and auditors are refused, and the refusal is logged.
    for name in ["rita", "aldo"] {
        let mut client = Client::new(console.addr);
        client.login(name);
        assert_eq!(client.get(&page).status, 403, "{name}");
    }

    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let case = lena.get(&format!("/case?sender={SENDER}")).text();
    assert!(case.contains("id=\"report-link\""), "{case}");
    let empty = lena.get(&page).text();
    assert!(empty.contains("Prepare the report"), "{empty}");
    let csrf = review_support::csrf_of(&empty);
    let prepare = |client: &mut Client, summary: &str, incident: &str| {
        client.post(
            "/case/report",
            &[
                ("csrf", csrf.as_str()),
                ("sender", SENDER),
                ("incident_type", incident),
                ("summary", summary),
            ],
        )
    };
    let cp = IncidentType::ChildPornography.as_str();
    let r = prepare(&mut lena, "  ", cp);
    assert_eq!(
        r.header("location"),
        Some(format!("{page}&notice=report-bad-summary").as_str())
    );
    let r = prepare(&mut lena, "summary", "Something Else");
    assert_eq!(
        r.header("location"),
        Some(format!("{page}&notice=report-bad-type").as_str())
    );
    let r = prepare(&mut lena, "Two matched images, <confirmed>.", cp);
    assert_eq!(
        r.header("location"),
        Some(format!("{page}&notice=report-prepared").as_str())
    );

    // Before submission the lead reads what NCMEC will receive; nothing was sent yet.
    let draft = lena.get(&page).text();
    for needle in [
        "<dd id=\"report-status\">draft</dd>",
        "203.0.113.7",
        "device-42",
        "sender@example.org",
        "Two matched images, &lt;confirmed&gt;.",
        "The report as NCMEC will receive it (XML)",
        "&lt;espIdentifier&gt;u-1&lt;/espIdentifier&gt;",
        "Submit to the CyberTipline",
    ] {
        assert!(draft.contains(needle), "{needle} missing:\n{draft}");
    }
    let md5s: Vec<String> = flags
        .iter()
        .map(|(_, bytes)| hex::encode(md5::Md5::digest(bytes)))
        .collect();
    for md5 in &md5s {
        assert!(draft.contains(md5.as_str()), "{md5}");
    }
    assert!(server.snapshot().requests.is_empty());

    let report = review_support::query_rows(&console, "SELECT id::text FROM reports").remove(0);
    let submit = |client: &mut Client| {
        client.post(
            "/case/report/submit",
            &[
                ("csrf", csrf.as_str()),
                ("sender", SENDER),
                ("report", report.as_str()),
            ],
        )
    };
    let r = submit(&mut lena);
    assert_eq!(
        r.header("location"),
        Some(format!("{page}&notice=report-submitted").as_str()),
        "{}",
        r.text()
    );
    let server_state = server.snapshot();
    let (&report_id, received) = server_state.reports.iter().next().unwrap();
    assert!(received.finished);
    let done = lena.get(&page).text();
    assert!(
        done.contains(&format!("<dd id=\"ncmec-report-id\">{report_id}</dd>")),
        "{done}"
    );
    for (file_id, ..) in &received.files {
        assert!(done.contains(file_id.as_str()), "{file_id}");
    }
    let received_md5s: Vec<&str> = received.files.iter().map(|f| f.2.as_str()).collect();
    assert_eq!(received_md5s, md5s);

    // Again: nothing is sent, no second report.
    let r = submit(&mut lena);
    assert_eq!(
        r.header("location"),
        Some(format!("{page}&notice=report-finished-already").as_str())
    );
    assert_eq!(server.snapshot().reports.len(), 1);
    assert_eq!(
        server.snapshot().requests.len(),
        server_state.requests.len()
    );

    // The access log has the refusals, the views and every step, under the lead's pseudonym.
    let actions = review_support::query_rows(
        &console,
        "SELECT action || ' ' || role FROM access_log
         WHERE action LIKE 'report%' OR action = 'view_report'
            OR (action = 'denied' AND detail = '/case/report') ORDER BY id",
    );
    assert_eq!(
        actions,
        [
            "denied reviewer",
            "denied auditor",
            "view_report lead",
            "report_prepared lead",
            "view_report lead",
            "report_opened lead",
            "report_file_uploaded lead",
            "report_file_uploaded lead",
            "report_finished lead",
            "view_report lead",
        ]
    );
    drop(rt);
}
