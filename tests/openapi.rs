//! `/openapi.json` documents exactly the routes the server has, and the
//! pages it serves (`/`, `/docs` and every embedded asset) make no request
//! outside the server.

mod common;

use common::{client, Server};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// A concrete URL for a documented path: each `{param}` gets a value the
/// handler accepts as well-formed (the thing named need not exist).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| match seg {
            "{name}" => "NO_SUCH_STREAM",
            "{seq}" => "1",
            "{subject}" => "mjwork.docs",
            "{consumer}" => "nobody",
            "{task_id}" => "no-such-task",
            "{agent_id}" => "no-such-agent",
            "{channel}" => "coordination",
            "{path}" => "app.js",
            other => {
                assert!(
                    !other.starts_with('{'),
                    "no sample value for {other} in {path}"
                );
                other
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn call(base: &str, method: &str, path: &str) -> (u16, String) {
    let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let resp = client()
        .request(method, format!("{base}{path}"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn the_spec_lists_every_route_and_only_routes_that_exist() {
    let s = Server::start();
    let (status, text) = call(&s.base, "get", "/openapi.json").await;
    assert_eq!(status, 200);
    let spec: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    assert_eq!(spec["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = spec["paths"].as_object().unwrap();
    // The routes people rely on are all there (the old service's included).
    for must in [
        "/api/tasks",
        "/api/tasks/{task_id}/claim",
        "/api/tasks/claim-next",
        "/api/agents/heartbeat",
        "/api/messages/{channel}",
        "/api/pub/{subject}",
        "/api/streams/{name}/consumers/{consumer}/next",
        "/health",
        "/ready",
        "/metrics",
        "/ws",
        "/docs",
        "/openapi.json",
        "/",
    ] {
        assert!(paths.contains_key(must), "{must} is not documented");
    }

    let mut operations = 0;
    for (path, ops) in paths {
        let url = concrete(path);
        let declared = path
            .split('/')
            .filter(|s| s.starts_with('{'))
            .map(|s| s.trim_matches(|c| c == '{' || c == '}').to_string())
            .collect::<Vec<_>>();
        for method in METHODS {
            let (status, body) = call(&s.base, method, &url).await;
            let fallback = body.contains("no route for") || body.contains("is not allowed on");
            match ops.get(method) {
                Some(op) => {
                    operations += 1;
                    // Documented: the router has a handler for it.
                    assert!(
                        !fallback && status != 405,
                        "{method} {path} is documented but not routed: {status} {body}"
                    );
                    assert!(
                        op["summary"].as_str().is_some_and(|s| s.len() > 10),
                        "{method} {path}: no summary"
                    );
                    let params: Vec<&str> = op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect();
                    assert_eq!(params, declared, "{method} {path}: path parameters");
                    let responses = op["responses"].as_object().unwrap();
                    // Every operation says what success looks like (claim-next
                    // also answers 204, which is not its only answer).
                    assert!(
                        responses.contains_key("200") || responses.contains_key("201"),
                        "{method} {path} documents no success answer: {:?}",
                        responses.keys().collect::<Vec<_>>()
                    );
                }
                None => {
                    // Not documented: the router must not answer it either.
                    assert_eq!(
                        status, 405,
                        "{method} {path} answers but is not documented: {body}"
                    );
                }
            }
        }
    }
    assert!(operations >= 40, "only {operations} operations documented");
    // The compatible lists answer bare arrays, and say so.
    for path in [
        "/api/tasks",
        "/api/tasks/available",
        "/api/agents",
        "/api/messages/{channel}",
    ] {
        let schema =
            &paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(schema["type"], "array", "{path}: {schema}");
    }
    let next = &paths["/api/tasks/claim-next"]["post"]["responses"];
    assert!(
        next.get("200").is_some() && next.get("204").is_some(),
        "{next}"
    );
    let unprocessable = &paths["/api/tasks"]["post"]["responses"]["422"]["content"]
        ["application/json"]["schema"]["$ref"];
    assert_eq!(unprocessable, "#/components/schemas/ValidationError");
    // And a path that is not documented is not routed.
    assert!(call(&s.base, "get", "/api/undocumented")
        .await
        .1
        .contains("no route for"));
}

/// Every `http(s)://` URL in `text` whose host is not loopback.
fn external_urls(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for scheme in ["http://", "https://", "ws://", "wss://"] {
        let mut rest = text;
        while let Some(i) = rest.find(scheme) {
            let url: String = rest[i..]
                .chars()
                .take_while(|c| {
                    !c.is_whitespace() && !matches!(c, '"' | '\'' | '`' | ')' | '<' | '>')
                })
                .collect();
            let host = url[scheme.len()..]
                .split(['/', ':', '?', '#'])
                .next()
                .unwrap_or("");
            if !matches!(host, "127.0.0.1" | "localhost" | "[") && !host.starts_with("[::1]") {
                found.push(url.clone());
            }
            rest = &rest[i + scheme.len()..];
        }
    }
    // Protocol-relative references load from elsewhere too.
    for attr in [
        "src=\"//",
        "href=\"//",
        "src='//",
        "href='//",
        "url(//",
        "from \"//",
        "import(\"//",
    ] {
        if text.contains(attr) {
            found.push(attr.to_string());
        }
    }
    found
}

#[tokio::test]
async fn the_dashboard_and_the_docs_page_make_no_external_request() {
    let s = Server::start();
    let mut pages = vec!["/".to_string(), "/docs".to_string()];
    // Every file compiled into the binary, whether a page links it or not.
    for name in hivelog::api::dashboard::asset_names() {
        pages.push(format!("/assets/{name}"));
    }
    assert!(pages.len() >= 6, "{pages:?}");
    for page in &pages {
        let (status, body) = call(&s.base, "get", page).await;
        assert_eq!(status, 200, "{page}");
        assert!(!body.is_empty(), "{page} is empty");
        let external = external_urls(&body);
        assert!(
            external.is_empty(),
            "{page} refers outside the server: {external:?}"
        );
    }
    // The docs page really renders the spec it is served with.
    let (_, docs) = call(&s.base, "get", "/docs").await;
    assert!(docs.contains("/assets/docs.js"));
    let (_, js) = call(&s.base, "get", "/assets/docs.js").await;
    assert!(js.contains("fetch(\"/openapi.json\")"));

    // The check itself catches what it should.
    assert_eq!(
        external_urls("<script src=\"https://cdn.example.com/x.js\">").len(),
        1
    );
    assert_eq!(
        external_urls("<link href=\"//fonts.example.com/a.css\">").len(),
        1
    );
    assert!(external_urls("fetch('http://127.0.0.1:8001/health')").is_empty());
}
