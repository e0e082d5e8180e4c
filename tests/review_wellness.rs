//! Reviewer wellness against a running console and real PostgreSQL: revealed content is
//! greyscale and bounded by default and as each person sets it (settings validated, CSRF
//! checked, changes logged); a revealed image or frame is blurred again with one click and
//! needs a new, logged reveal to be seen again; today's reveals are counted for the person
//! and their lead; at `review.daily_reveal_cap` reveals are refused (also two at once) and
//! "claim next" gives items without images or frames.
#![allow(clippy::unwrap_used)] // in tests a panic is the failure report

mod common;
mod kafka_support;
mod review_support;

use review_support::{Client, Console, query_i64, query_rows, runtime};
use vigil_review::contact::{Sheet, SheetFrame};
use vigil_review::preview::Preview;
use vigil_review::{Content, Image};

const FRAME_MS: u64 = 1000;

fn image(attachment_id: &str) -> Image {
    Image {
        attachment_id: attachment_id.into(),
        media_type: "image/png".into(),
        data: format!("bytes-of-{attachment_id}").into_bytes(),
        preview: Preview::Missing("test".into()),
        file_name: None,
    }
}

/// Stores a flag of `message_id` with images `images` and, if `video`, a video `v-1` with
/// one frame at [`FRAME_MS`]; returns its id.
fn store_flag(console: &Console, message_id: &str, images: &[&str], video: bool) -> String {
    let rt = runtime();
    rt.block_on(async {
        let url = vigil_core::config::Secret::new(console.database_url());
        let store = review_support::sealed_store(&url).await;
        let mut incoming = review_support::with_content(
            message_id,
            "wellness text",
            images.iter().map(|id| image(id)).collect(),
        );
        if video && let Content::Stored { videos, .. } = &mut incoming.content {
            videos.push(Sheet {
                attachment_id: "v-1".into(),
                duration_ms: Some(3000),
                frames: vec![SheetFrame {
                    time_ms: FRAME_MS,
                    frame_ms: FRAME_MS,
                    thumbnail: b"frame-bytes".to_vec(),
                    preview: Preview::Missing("test".into()),
                }],
                note: None,
                failure: None,
            });
        }
        store.insert_flag(&incoming).await.unwrap();
        incoming.flag.flag_id.clone()
    })
}

fn image_path(flag: &str, attachment: &str) -> String {
    format!("/flags/{flag}/images/{attachment}")
}

fn frame_path(flag: &str) -> String {
    format!("/flags/{flag}/videos/v-1/frames/{FRAME_MS}")
}

/// POSTs only the session's token to `path`; returns the status and the redirect.
fn act(client: &mut Client, csrf: &str, path: &str) -> (u16, String) {
    let r = client.post(path, &[("csrf", csrf)]);
    (r.status, r.header("location").unwrap_or("").to_string())
}

/// The reveals-today figure a page shows.
fn reveals_today(page: &str) -> i64 {
    let at = page.find("id=\"reveals-today\">").expect(page) + 19;
    page[at..].split('<').next().unwrap().parse().unwrap()
}

fn count(console: &Console, action: &str) -> i64 {
    query_i64(
        console,
        &format!("SELECT count(*) FROM access_log WHERE action = '{action}'"),
    )
}

#[test]
fn settings_shape_revealed_content_and_a_reblur_needs_a_new_reveal_to_undo() {
    let (console, _) =
        review_support::quiet_console("", &[("rita", "reviewer"), ("aldo", "auditor")]);
    let flag = store_flag(&console, "m-1", &["a-1"], true);
    let page_path = format!("/flags/{flag}");
    let mut rita = Client::new(console.addr);
    rita.login("rita");
    let csrf = rita.csrf("/queue");
    assert_eq!(act(&mut rita, &csrf, &format!("{page_path}/claim")).0, 303);

    // Defaults: greyscale, 320 px at most, medium blur; nothing revealed yet.
    let page = rita.get(&page_path).text();
    assert!(
        page.contains("<div class=\"media blur-medium size-320 grey\">"),
        "{page}"
    );
    assert_eq!(reveals_today(&page), 0);
    let css = rita.get("/static/console.css").text();
    for rule in [
        "div.media.grey img.revealed, div.media.grey img.revealed-frame { filter: grayscale(1); }",
        "div.media.size-320 img.revealed, div.media.size-320 img.revealed-frame { max-width: 320px; max-height: 320px; }",
        "div.media.blur-high img.blurred, div.media.blur-high img.blurred-frame { filter: blur(12px) grayscale(1); }",
    ] {
        assert!(css.contains(rule), "{rule}");
    }

    // Reveal, re-blur: the original is refused again without a second reveal row.
    let img = image_path(&flag, "a-1");
    assert_eq!(
        act(&mut rita, &csrf, &format!("{img}/reveal")),
        (303, page_path.clone())
    );
    let page = rita.get(&page_path).text();
    assert!(
        page.contains("class=\"revealed\"") && page.contains(&format!("action=\"{img}/reblur\""))
    );
    assert_eq!(reveals_today(&page), 1);
    assert_eq!(rita.get(&img).status, 200);
    assert_eq!(
        act(&mut rita, &csrf, &format!("{img}/reblur")),
        (303, page_path.clone())
    );
    let page = rita.get(&page_path).text();
    assert!(
        !page.contains("class=\"revealed\"") && page.contains("class=\"blurred\""),
        "{page}"
    );
    assert_eq!(rita.get(&img).status, 403);
    assert_eq!(reveals_today(&page), 1);
    assert_eq!(
        (
            count(&console, "reveal_image"),
            count(&console, "reblur_image")
        ),
        (1, 1)
    );
    // Blurring what is not revealed does nothing, and logs nothing.
    act(&mut rita, &csrf, &format!("{img}/reblur"));
    assert_eq!(count(&console, "reblur_image"), 1);
    // Seeing it again is a new reveal, logged and counted.
    act(&mut rita, &csrf, &format!("{img}/reveal"));
    assert_eq!(rita.get(&img).status, 200);

    // Frames alike.
    let frame = frame_path(&flag);
    assert_eq!(act(&mut rita, &csrf, &format!("{frame}/reveal")).0, 303);
    assert_eq!(rita.get(&frame).status, 200);
    let page = rita.get(&page_path).text();
    assert_eq!(page.matches("class=\"revealed-frame\"").count(), 1);
    assert_eq!(reveals_today(&page), 3);
    assert_eq!(act(&mut rita, &csrf, &format!("{frame}/reblur")).0, 303);
    assert_eq!(rita.get(&frame).status, 403);
    let page = rita.get(&page_path).text();
    assert_eq!(page.matches("class=\"blurred-frame\"").count(), 1);
    assert_eq!(
        query_rows(
            &console,
            "SELECT action || ' ' || detail FROM access_log WHERE action LIKE '%_frame' ORDER BY id"
        ),
        [
            format!("reveal_frame frame_ms={FRAME_MS}"),
            format!("reblur_frame frame_ms={FRAME_MS}")
        ]
    );

    // Settings: a forged token and bad values change nothing.
    let settings = rita.get("/account/wellness");
    assert_eq!(settings.status, 200);
    assert!(settings.text().contains("name=\"reveal_size_px\""));
    let save = |client: &mut Client, csrf: &str, fields: &[(&str, &str)]| {
        let mut form = vec![("csrf", csrf)];
        form.extend_from_slice(fields);
        client.post("/account/wellness", &form)
    };
    let good = [
        ("colour", "on"),
        ("reveal_size_px", "480"),
        ("blur", "high"),
    ];
    assert_eq!(save(&mut rita, "forged", &good).status, 403);
    assert_eq!(save(&mut rita, "", &good).status, 403);
    for bad in [
        [
            ("colour", "on"),
            ("reveal_size_px", "1000"),
            ("blur", "high"),
        ],
        [
            ("colour", "on"),
            ("reveal_size_px", "321"),
            ("blur", "high"),
        ],
        [
            ("colour", "on"),
            ("reveal_size_px", "big"),
            ("blur", "high"),
        ],
        [
            ("colour", "on"),
            ("reveal_size_px", "480"),
            ("blur", "none"),
        ],
        [
            ("colour", "yes"),
            ("reveal_size_px", "480"),
            ("blur", "high"),
        ],
    ] {
        let r = save(&mut rita, &csrf, &bad);
        assert_eq!(r.status, 422, "{bad:?}");
        assert!(r.text().contains("role=\"alert\""), "{bad:?}");
    }
    assert_eq!(
        query_i64(&console, "SELECT count(*) FROM reviewer_settings"),
        0
    );
    assert_eq!(count(&console, "change_view_settings"), 0);

    let r = save(&mut rita, &csrf, &good);
    assert_eq!(
        r.header("location"),
        Some("/account/wellness?notice=settings-saved")
    );
    let page = rita.get(&page_path).text();
    assert!(
        page.contains("<div class=\"media blur-high size-480\">"),
        "{page}"
    );
    // An unticked box is greyscale again.
    save(
        &mut rita,
        &csrf,
        &[("reveal_size_px", "160"), ("blur", "low")],
    );
    let page = rita.get(&page_path).text();
    assert!(
        page.contains("<div class=\"media blur-low size-160 grey\">"),
        "{page}"
    );
    assert_eq!(
        query_rows(
            &console,
            "SELECT colour::text || ' ' || reveal_size_px || ' ' || blur FROM reviewer_settings"
        ),
        ["false 160 low"]
    );
    assert_eq!(
        query_rows(
            &console,
            "SELECT detail FROM access_log WHERE action = 'change_view_settings' ORDER BY id"
        ),
        [
            "colour=true reveal_size_px=480 blur=high",
            "colour=false reveal_size_px=160 blur=low"
        ]
    );

    // Auditors see no content, so they have no viewing settings.
    let mut aldo = Client::new(console.addr);
    aldo.login("aldo");
    assert_eq!(aldo.get("/account/wellness").status, 403);
    assert_eq!(
        query_i64(
            &console,
            "SELECT count(*) FROM access_log WHERE action = 'denied' AND detail = '/account/wellness'"
        ),
        1
    );
    console.stop();
}

#[test]
fn at_the_daily_cap_reveals_are_refused_claim_next_gives_text_and_the_lead_sees_the_count() {
    let (console, _) = review_support::quiet_console(
        "daily_reveal_cap = 2\n",
        &[
            ("rita", "reviewer"),
            ("remy", "reviewer"),
            ("lena", "lead"),
            ("aldo", "auditor"),
        ],
    );
    let visual = store_flag(&console, "m-visual", &["a-1", "a-2", "a-3"], true);
    let other = store_flag(&console, "m-other", &["b-1", "b-2", "b-3"], false);
    let text = store_flag(&console, "m-text", &[], false);
    let page_path = format!("/flags/{visual}");

    let mut rita = Client::new(console.addr);
    rita.login("rita");
    let csrf = rita.csrf("/queue");
    act(&mut rita, &csrf, &format!("{page_path}/claim"));
    for a in ["a-1", "a-2"] {
        let path = format!("{}/reveal", image_path(&visual, a));
        assert_eq!(act(&mut rita, &csrf, &path), (303, page_path.clone()));
    }
    // The third is refused, with the reason on the page and in the access log.
    let refused = (303, format!("{page_path}?notice=reveal-cap"));
    let third = image_path(&visual, "a-3");
    assert_eq!(act(&mut rita, &csrf, &format!("{third}/reveal")), refused);
    assert_eq!(rita.get(&third).status, 403);
    assert_eq!(
        act(&mut rita, &csrf, &format!("{}/reveal", frame_path(&visual))),
        refused
    );
    let page = rita.get(&format!("{page_path}?notice=reveal-cap")).text();
    assert!(
        page.contains("You reached today&#39;s reveal limit")
            || page.contains("You reached today's reveal limit"),
        "{page}"
    );
    assert!(page.contains("Daily reveal limit reached") && !page.contains("Reveal image (logged)"));
    assert_eq!(reveals_today(&page), 2);
    // Blurring again needs no reveal; revealing again is refused.
    let first = image_path(&visual, "a-1");
    assert_eq!(act(&mut rita, &csrf, &format!("{first}/reblur")).0, 303);
    assert_eq!(act(&mut rita, &csrf, &format!("{first}/reveal")), refused);
    assert_eq!(
        query_rows(
            &console,
            "SELECT detail FROM access_log WHERE action = 'denied' AND detail LIKE '%cap)'
             ORDER BY id"
        ),
        [
            "/flags/images/reveal (daily reveal cap)",
            "/flags/videos/frames/reveal (daily reveal cap)",
            "/flags/images/reveal (daily reveal cap)"
        ]
    );
    assert_eq!(count(&console, "reveal_image"), 2);
    let queue = rita.get("/queue").text();
    assert!(
        queue.contains("of at most 2") && queue.contains("You reached today"),
        "{queue}"
    );

    // Claim next: past both flags with images, to the one without.
    let r = rita.post("/queue/claim-next", &[("csrf", &csrf)]);
    assert_eq!(
        r.header("location"),
        Some(format!("/flags/{text}").as_str())
    );

    // Another reviewer is not at the cap: claim next gives a flag with images. Two reveals
    // at once at the last place left: exactly one is logged.
    let mut remy = Client::new(console.addr);
    remy.login("remy");
    let remy_csrf = remy.csrf("/queue");
    let r = remy.post("/queue/claim-next", &[("csrf", &remy_csrf)]);
    assert_eq!(
        r.header("location"),
        Some(format!("/flags/{other}").as_str())
    );
    act(
        &mut remy,
        &remy_csrf,
        &format!("{}/reveal", image_path(&other, "b-1")),
    );
    let answers: Vec<(u16, String)> = std::thread::scope(|s| {
        let runs: Vec<_> = ["b-2", "b-3"]
            .into_iter()
            .map(|a| {
                let mut client = Client::new(console.addr);
                client.cookies = remy.cookies.clone();
                let (csrf, path) = (
                    remy_csrf.clone(),
                    format!("{}/reveal", image_path(&other, a)),
                );
                s.spawn(move || act(&mut client, &csrf, &path))
            })
            .collect();
        runs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let refused_other = format!("/flags/{other}?notice=reveal-cap");
    assert_eq!(
        answers
            .iter()
            .filter(|(_, to)| *to == refused_other)
            .count(),
        1,
        "{answers:?}"
    );
    assert_eq!(
        query_i64(
            &console,
            "SELECT count(*) FROM access_log a JOIN reviewers r ON r.id = a.reviewer_id
             WHERE r.username = 'remy' AND a.action = 'reveal_image'"
        ),
        2
    );

    // Leads are not capped.
    let mut lena = Client::new(console.addr);
    lena.login("lena");
    let lena_csrf = lena.csrf("/queue");
    for a in ["a-1", "a-2", "a-3"] {
        let path = format!("{}/reveal", image_path(&visual, a));
        assert_eq!(act(&mut lena, &lena_csrf, &path), (303, page_path.clone()));
    }

    // The lead's team page: everyone's reveals today.
    let team = lena.get("/team");
    assert_eq!(team.status, 200);
    let team = team.text();
    let row = |username: &str| -> Vec<String> {
        let pseudonym = query_rows(
            &console,
            &format!("SELECT pseudonym FROM reviewers WHERE username = '{username}'"),
        )
        .remove(0);
        let at = team.find(&format!("<td>{pseudonym}</td>")).expect(&team);
        team[at..]
            .split("</tr>")
            .next()
            .unwrap()
            .split("<td>")
            .skip(2)
            .map(|c| c.split('<').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(row("rita"), ["reviewer", "2", "0", "2", "yes"]);
    assert_eq!(row("remy"), ["reviewer", "2", "0", "2", "yes"]);
    assert_eq!(row("lena"), ["lead", "3", "0", "3", "—"]);
    assert!(
        !team.contains("aldo") && !team.contains("auditor-"),
        "{team}"
    );

    // Only leads: the others are refused, and the attempts logged.
    assert_eq!(rita.get("/team").status, 403);
    let mut aldo = Client::new(console.addr);
    aldo.login("aldo");
    assert_eq!(aldo.get("/team").status, 403);
    assert_eq!(
        query_i64(
            &console,
            "SELECT count(*) FROM access_log WHERE action = 'denied' AND detail = '/team'"
        ),
        2
    );
    console.stop();
}
