//! A headless Chromium driven through WebDriver (chromedriver +
//! fantoccini), for the dashboard tests. Needs Debian's `chromium` and
//! `chromium-driver` (.ci/run installs them and sets
//! HIVELOG_REQUIRE_BROWSER=1, which makes a missing browser a failure).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{ClientBuilder, Locator};
use serde_json::json;

fn find(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path).chain([
            PathBuf::from("/usr/bin"),
            PathBuf::from("/usr/lib/chromium"),
        ]) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// chromedriver in a process group of its own, with every Chromium it
/// starts: dropping the guard kills the whole group, so a failed run
/// leaves no headless browser behind.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start_driver(driver: &Path) -> (Driver, String) {
    use std::os::unix::process::CommandExt;
    // The free port can be taken by another process (a server another
    // test starts on port 0) before chromedriver binds it; chromedriver
    // then exits, and a bare TCP connect may reach that other process. So
    // accept only a live chromedriver answering its own /status, and
    // start again on a new port otherwise.
    for _ in 0..5 {
        let port = free_port();
        // Owned by the guard at once: killed and waited for on every path.
        let mut guard = Driver(
            Command::new(driver)
                .arg(format!("--port={port}"))
                .process_group(0)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver"),
        );
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if !matches!(guard.0.try_wait(), Ok(None)) {
                break; // exited: most likely the port was taken
            }
            let status = reqwest::get(format!("{url}/status")).await;
            if let Ok(resp) = status {
                if resp.text().await.is_ok_and(|t| t.contains("\"ready\"")) {
                    return (guard, url);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!("chromedriver did not start (5 attempts)");
}

/// A headless Chromium session; `None` (after saying so on the terminal,
/// past cargo's output capture) when the browser is not installed and
/// HIVELOG_REQUIRE_BROWSER is not set.
pub struct Browser {
    pub client: fantoccini::Client,
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start(test: &str) -> Option<Browser> {
        // fantoccini's TLS stack takes rustls's process-wide provider, and
        // with hivelog's `ring` and fantoccini's `aws-lc-rs` both built in
        // there is no single default: name one (a second call is a no-op).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let required = std::env::var("HIVELOG_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
        let (Some(driver), Some(chromium)) = (
            find(&["chromedriver"]),
            find(&["chromium", "chromium-browser"]),
        ) else {
            assert!(
                !required,
                "HIVELOG_REQUIRE_BROWSER=1 but chromium/chromedriver are not installed"
            );
            // Straight to the terminal: cargo shows a passing test's
            // eprintln! only with --nocapture.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("\nSKIPPED {test}: chromium and chromium-driver are not installed (apt-get install chromium chromium-driver; HIVELOG_REQUIRE_BROWSER=1 makes this a failure)\n").as_bytes(),
            );
            return None;
        };
        let (driver, webdriver) = start_driver(&driver).await;
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,800", format!("--user-data-dir={}", profile.path().display())],
        }});
        let caps = caps.as_object().unwrap().clone();
        let client = ClientBuilder::rustls()
            .expect("tls")
            .capabilities(caps)
            .connect(&webdriver)
            .await
            .expect("browser session");
        Some(Browser {
            client,
            _driver: driver,
            _profile: profile,
        })
    }

    /// Waits up to 15 s for `css` to match.
    pub async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
    }

    /// Waits up to 15 s for the text of `css` to contain `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.contains(needle) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{css} never said {needle:?}; it says {text:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Saves a screenshot under cargo's temporary directory for integration
/// tests (inside the target directory, wherever CARGO_TARGET_DIR puts it).
pub async fn screenshot(browser: &fantoccini::Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&shot, png).unwrap();
    eprintln!("screenshot: {}", shot.display());
}
