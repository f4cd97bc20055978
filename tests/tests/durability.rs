//! A daemon killed with SIGKILL in the middle of a stream of writes loses none of the
//! writes it acknowledged, and restarts cleanly.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pdc_tests::{NodeProc, http};
use serde_json::json;

#[test]
fn acknowledged_writes_survive_sigkill() {
    let mut n = NodeProc::init("patient", "Kim");
    n.start();
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (api, token, acked) = (n.api.clone(), n.token.clone(), acked.clone());
        writers.push(std::thread::spawn(move || {
            for i in 0.. {
                let body =
                    json!({"kind": "note", "title": format!("w{w}-{i}"), "text": "durability"})
                        .to_string();
                let r = std::panic::catch_unwind(|| {
                    http(
                        &api,
                        "POST",
                        "/api/v1/records",
                        Some(&token),
                        Some(body.as_bytes()),
                    )
                });
                match r {
                    Ok((201, v)) => acked
                        .lock()
                        .expect("lock")
                        .push(v["id"].as_str().unwrap_or_default().to_string()),
                    _ => break, // the daemon is gone
                }
            }
        }));
    }
    // Let the stream run, then kill mid-flight.
    // A generous deadline: a slow machine takes longer, a stuck writer fails here
    // instead of hanging the suite.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while acked.lock().expect("lock").len() < 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} writes acknowledged in 120 s",
            acked.lock().expect("lock").len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    n.kill9();
    for w in writers {
        let _ = w.join();
    }
    let acked: Vec<String> = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 200);

    n.start();
    let (code, list) = n.http("GET", "/api/v1/records", None);
    assert_eq!(code, 200);
    let present: HashSet<String> = list["records"]
        .as_array()
        .expect("records")
        .iter()
        .filter_map(|r| r["id"].as_str().map(String::from))
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|id| !present.contains(*id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged writes lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        lost.first()
    );
    n.stop();
}
