//! The hospital portal over plain HTTP against real daemons: the first administrator,
//! staff accounts and what only administrators may do, the history of the hospital's
//! searches, logout, the separation of the two portals' sessions, and the security
//! headers of every page. The browser adds nothing here (no script runs on these
//! pages); `portal.rs` walks the same portals in Chromium.

use pdc_tests::{NodeProc, Page, PortalClient, http_headers, network, wait_for};

/// The policy `web::security_headers` sends with every portal response: no script at
/// all, styles and images only from the node, forms only to the node, no framing.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn setup_code(n: &NodeProc) -> String {
    std::fs::read_to_string(n.path().join("portal-setup.code"))
        .expect("the daemon writes the setup code before any account exists")
        .trim()
        .to_string()
}

/// Creates the node's first portal account through the setup form with the node's
/// setup code; returns the client, logged in as that account.
fn first_account(n: &NodeProc, user: &str, password: &str) -> PortalClient {
    let code = setup_code(n);
    let mut c = PortalClient::new(&n.api);
    let r = c.submit(
        &format!("/setup?code={code}"),
        "/setup",
        &[
            ("code", &code),
            ("username", user),
            ("password", password),
            ("password2", password),
        ],
    );
    assert_eq!((r.status, r.location()), (303, Some("/")), "{}", r.body);
    assert!(c.cookie("pdc_session_").is_some(), "{}", r.head);
    c
}

/// The rows of the page's table `id`, each as its HTML.
fn rows(page: &Page, id: &str) -> Vec<String> {
    let Some(table) = page
        .body
        .split(&format!("<table id=\"{id}\">"))
        .nth(1)
        .and_then(|t| t.split("</table>").next())
    else {
        return Vec::new();
    };
    let body = table.split("<tbody>").nth(1).unwrap_or_default();
    // `<tr>` or `<tr class="...">`: the row is what follows the tag.
    body.split("<tr")
        .skip(1)
        .filter_map(|r| r.split_once('>'))
        .map(|(_, r)| r.split("</tr>").next().unwrap_or_default().to_string())
        .collect()
}

fn staff_names(admin: &mut PortalClient) -> Vec<String> {
    let page = admin.get("/hospital/staff");
    assert_eq!(page.status, 200, "{}", page.body);
    rows(&page, "staff")
        .iter()
        .filter_map(|r| {
            r.strip_prefix("<td>")
                .and_then(|r| r.split("</td>").next())
                .map(String::from)
        })
        .collect()
}

fn is_login_redirect(r: &Page) -> bool {
    r.status == 303 && r.location() == Some("/login")
}

#[test]
fn the_first_visit_creates_the_admin_and_a_second_setup_is_refused() {
    let mut h = NodeProc::init("hospital", "Hosp");
    h.start();
    let mut anon = PortalClient::new(&h.api);
    let login = anon.get("/login");
    assert!(
        login.body.contains("This node has no account yet"),
        "{}",
        login.body
    );

    // Reaching the port is not enough: a wrong code creates nothing.
    let r = anon.submit(
        "/setup?code=not-the-code",
        "/setup",
        &[
            ("code", "not-the-code"),
            ("username", "Mallory"),
            ("password", "mallory-secret-42"),
            ("password2", "mallory-secret-42"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("The setup code is wrong"), "{}", r.body);
    assert!(anon.get("/login").body.contains("no account yet"));

    let code = setup_code(&h);
    let mut admin = first_account(&h, "Grace", "grace-secret-42");
    assert!(
        !h.path().join("portal-setup.code").exists(),
        "the one-time code is removed once used"
    );
    let page = admin.get("/hospital/staff");
    assert_eq!(page.status, 200, "the first account is an administrator");
    let staff = rows(&page, "staff");
    assert_eq!(staff.len(), 1, "{staff:?}");
    assert!(
        staff[0].contains("Grace") && staff[0].contains("yes"),
        "{staff:?}"
    );

    // A second setup, even with the old code and a valid form token, creates nothing.
    let mut again = PortalClient::new(&h.api);
    let page = again.get(&format!("/setup?code={code}"));
    assert!(
        page.body.contains("This node already has an account") && page.csrf().is_none(),
        "no setup form once an account exists: {}",
        page.body
    );
    let r = again.submit(
        "/login",
        "/setup",
        &[
            ("code", &code),
            ("username", "Mallory"),
            ("password", "mallory-secret-42"),
            ("password2", "mallory-secret-42"),
        ],
    );
    assert!(is_login_redirect(&r), "{} {}", r.head, r.body);
    assert!(again.cookie("pdc_session_").is_none(), "no session for it");
    assert_eq!(
        PortalClient::new(&h.api)
            .login("Mallory", "mallory-secret-42")
            .status,
        401
    );
    assert_eq!(staff_names(&mut admin), ["Grace"]);
    h.stop();
}

#[test]
fn staff_search_but_only_admins_manage_staff_and_logout_ends_the_session() {
    let mut h = NodeProc::init("hospital", "Hosp");
    h.start();
    let mut admin = first_account(&h, "Grace", "grace-secret-42");
    let r = admin.submit(
        "/hospital/staff",
        "/hospital/staff",
        &[("username", "nurse.joy"), ("password", "joy-secret-42")],
    );
    assert_eq!(
        (r.status, r.location()),
        (303, Some("/hospital/staff")),
        "{}",
        r.body
    );
    let page = admin.get("/hospital/staff");
    assert!(page.body.contains("Created nurse.joy."), "{}", page.body);
    let joy_row = rows(&page, "staff")
        .into_iter()
        .find(|r| r.contains("nurse.joy"))
        .expect("nurse.joy listed");
    assert!(joy_row.contains("<td>no</td>"), "not an admin: {joy_row}");

    let mut joy = PortalClient::new(&h.api);
    assert_eq!(joy.login("nurse.joy", "joy-secret-42").status, 303);
    let search = joy.get("/hospital");
    assert_eq!(search.status, 200, "{}", search.body);
    assert!(
        search.body.contains("id=\"search-submit\""),
        "{}",
        search.body
    );
    assert!(
        !search.body.contains("href=\"/hospital/staff\""),
        "staff see no Staff link: {}",
        search.body
    );
    assert!(
        admin
            .get("/hospital")
            .body
            .contains("href=\"/hospital/staff\""),
        "admins do"
    );
    assert_eq!(joy.get("/hospital/history").status, 200);
    for path in ["/hospital/staff", "/operator"] {
        let r = joy.get(path);
        assert_eq!(r.status, 403, "{path}: {}", r.body);
        assert!(r.body.contains("Only administrators"), "{path}: {}", r.body);
    }
    // A staff member's own valid form, sent to the staff page, creates nobody.
    let r = joy.submit(
        "/hospital",
        "/hospital/staff",
        &[
            ("username", "eve"),
            ("password", "eve-secret-42"),
            ("admin", "1"),
        ],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(staff_names(&mut admin), ["Grace", "nurse.joy"]);

    // Logout needs the session's form token like every other post...
    let (cookie_name, cookie) = joy.cookie("pdc_session_").expect("session");
    let r = joy.post("/logout", &[]);
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(joy.get("/hospital").status, 200, "still logged in");
    // ...and with it, ends the session on the server, not only in this browser.
    let r = joy.submit("/hospital", "/logout", &[]);
    assert!(is_login_redirect(&r), "{}", r.head);
    assert!(joy.cookie("pdc_session_").is_none(), "cookie cleared");
    let mut replay = PortalClient::new(&h.api);
    replay.set_cookie(&cookie_name, &cookie);
    for path in ["/hospital", "/hospital/history"] {
        let r = replay.get(path);
        assert!(is_login_redirect(&r), "old cookie at {path}: {}", r.head);
    }
    let r = replay.post("/hospital", &[("query", "asthma")]);
    assert!(is_login_redirect(&r), "{}", r.head);
    assert_eq!(admin.get("/hospital/staff").status, 200, "others stay in");
    h.stop();
}

#[test]
fn history_lists_each_search_with_its_staff_member_and_access_block() {
    let tmp = tempfile::tempdir().expect("tmp");
    let nodes = network(
        vec![
            NodeProc::init("hospital", "Hosp"),
            NodeProc::init("patient", "Pat"),
        ],
        tmp.path(),
        "history-net",
    );
    let [h, pat]: [NodeProc; 2] = nodes.try_into().unwrap_or_else(|_| panic!("two nodes"));
    let rec = pat.pdc_json(&["record", "add", "condition", "Asthma"]);
    let hash = rec["hash"].as_str().expect("hash").to_string();
    pat.pdc_json(&["consent", "grant", "Hosp"]);
    wait_for(30, "the hospital to learn the grant", || {
        (h.pdc_json(&["consent", "list"])["consents"]
            .as_array()
            .map_or(0, Vec::len)
            == 1)
            .then_some(())
    });

    let mut admin = first_account(&h, "Grace", "grace-secret-42");
    admin.submit(
        "/hospital/staff",
        "/hospital/staff",
        &[("username", "dr.ada"), ("password", "ada-secret-42")],
    );
    let mut ada = PortalClient::new(&h.api);
    assert_eq!(ada.login("dr.ada", "ada-secret-42").status, 303);
    assert!(
        rows(&ada.get("/hospital/history"), "history").is_empty(),
        "no search yet"
    );

    // Each search's access block, as its result page shows it.
    let search = |c: &mut PortalClient| -> String {
        let r = c.submit(
            "/hospital",
            "/hospital",
            &[("query", "asthma"), ("purpose", "treatment")],
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let found = rows(&r, "results");
        assert_eq!(found.len(), 1, "{}", r.body);
        assert!(found[0].contains(&hash), "{}", found[0]);
        found[0]
            .split("access-block\" title=\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .expect("access block")
            .to_string()
    };
    let first = search(&mut ada);
    let second = search(&mut admin);
    assert_ne!(first, second);

    // The page reads the ledger, which holds an access once its block has come back
    // with the answer; wait for both, then check every column that names the search.
    let history = wait_for(30, "both searches in the history", || {
        let rows = rows(&ada.get("/hospital/history"), "history");
        (rows.len() == 2).then_some(rows)
    });
    let cell = |row: &str, n: usize| -> String {
        row.split("<td>")
            .nth(n + 1)
            .and_then(|c| c.split("</td>").next())
            .unwrap_or_default()
            .to_string()
    };
    // Newest first: Grace's search, then dr.ada's.
    for (row, staff, block) in [
        (&history[0], "Grace", &second),
        (&history[1], "dr.ada", &first),
    ] {
        assert_eq!(cell(row, 1), "Pat", "{row}");
        assert_eq!(cell(row, 2), staff, "{row}");
        assert_eq!(cell(row, 3), "asthma", "{row}");
        assert_eq!(cell(row, 4), "granted", "{row}");
        assert_eq!(cell(row, 6), "1", "one record: {row}");
        assert_eq!(cell(row, 7), "0.5", "{row}");
        assert!(row.contains(&format!("title=\"{block}\"")), "{row}");
    }
}

#[test]
fn a_session_of_one_portal_opens_nothing_on_the_other() {
    let (mut p, mut h) = (
        NodeProc::init("patient", "Pia"),
        NodeProc::init("hospital", "Hosp"),
    );
    p.start();
    h.start();
    let mut patient = first_account(&p, "Pia", "pia-secret-42");
    let mut hospital = first_account(&h, "Grace", "grace-secret-42");
    assert_eq!(patient.get("/patient").status, 200);
    assert_eq!(hospital.get("/hospital").status, 200);

    // The other role's pages do not exist on a node: with a live session of this node
    // they are still refused, like any unknown path, and never rendered.
    for (c, paths, other) in [
        (
            &mut patient,
            ["/hospital", "/hospital/history", "/hospital/staff"],
            "Search patients",
        ),
        (
            &mut hospital,
            ["/patient", "/patient/consents", "/patient/access"],
            "My health record",
        ),
    ] {
        for path in paths {
            let r = c.get(path);
            assert!(
                matches!(r.status, 401 | 404),
                "{path} on the wrong portal: {} {}",
                r.status,
                r.body
            );
            assert!(!r.body.contains(other), "{path}: {}", r.body);
        }
    }

    // A browser sends every 127.0.0.1 cookie to every port. Neither node takes the
    // other's session: not under its own name, nor renamed to this node's cookie.
    let (p_name, p_token) = patient.cookie("pdc_session_").expect("patient session");
    let (h_name, h_token) = hospital.cookie("pdc_session_").expect("hospital session");
    for (base, path, cookies) in [
        (
            &h.api,
            "/hospital",
            [(&p_name, &p_token), (&h_name, &p_token)],
        ),
        (
            &p.api,
            "/patient",
            [(&h_name, &h_token), (&p_name, &h_token)],
        ),
    ] {
        for (name, token) in cookies {
            let mut c = PortalClient::new(base);
            c.set_cookie(name, token);
            let r = c.get(path);
            assert!(
                is_login_redirect(&r),
                "{base}{path} with {name}: {}",
                r.head
            );
        }
    }
    p.stop();
    h.stop();
}

#[test]
fn portal_pages_carry_the_csp_and_the_api_answers_json() {
    let mut h = NodeProc::init("hospital", "Hosp");
    h.start();
    let mut admin = first_account(&h, "Grace", "grace-secret-42");
    let mut anon = PortalClient::new(&h.api);
    let pages = [
        ("login page", anon.get("/login")),
        ("redirect to login", anon.get("/hospital")),
        ("CSRF refusal", anon.post("/login", &[("username", "x")])),
        ("stylesheet", anon.get("/portal/style.css")),
        ("search page", admin.get("/hospital")),
        ("staff page", admin.get("/hospital/staff")),
        ("operator page", admin.get("/operator")),
    ];
    for (what, r) in &pages {
        assert_eq!(
            r.header("content-security-policy"),
            Some(CSP),
            "{what}: {}",
            r.head
        );
        assert_eq!(r.header("x-frame-options"), Some("deny"), "{what}");
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}"
        );
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
    }
    assert_eq!(pages[2].1.status, 403, "{}", pages[2].1.body);
    // No page carries a script for the policy to block in the first place.
    for (what, r) in &pages[..3] {
        assert!(!r.body.to_lowercase().contains("<script"), "{what}");
    }

    // The API: JSON, the bearer token or a JSON refusal that says how to authenticate.
    let auth = format!("Bearer {}", h.token);
    let (code, head, body) = http_headers(
        &h.api,
        "GET",
        "/api/v1/status",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(code, 200);
    assert!(head.contains("content-type: application/json"), "{head}");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON status");
    assert_eq!(v["name"], "Hosp");
    let (code, head, body) = http_headers(&h.api, "GET", "/api/v1/status", &[], b"");
    assert_eq!(code, 401);
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON error");
    assert_eq!(v["error"], "unauthorized");
    assert!(
        v["detail"]
            .as_str()
            .is_some_and(|d| d.contains("api.token")),
        "{v}"
    );
    let (code, _, body) = http_headers(
        &h.api,
        "GET",
        "/api/v1/nothing-here",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(code, 404);
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON error");
    assert_eq!(v["error"], "not_found");
    h.stop();
}
