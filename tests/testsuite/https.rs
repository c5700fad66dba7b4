//! HTTPS: with `[http] tls_cert_file` and `tls_key_file`, `sunlight run` serves the
//! console, the API and the metrics over TLS only (rustls); a client that trusts the
//! certificate gets the console with its security headers and the API with its
//! bearer token, and a plain-HTTP request gets no HTTP answer. A key that does not
//! fit its certificate is refused by `--check`, naming the settings.

use std::io::{Read, Write};
use std::process::Command;
use std::sync::Arc;

use rdkafka::mocking::MockCluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::support::{repo, spawn_engine, sunlight, unique};

const SECRET: &str = "an-https-test-secret-of-32-bytes!!";

async fn https_get(addr: &str, path: &str, bearer: Option<&str>) -> String {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(repo("tests/keys/tls-test-ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("a TLS handshake with the test certificate");
    let auth = bearer.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    tls.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n")
            .as_bytes(),
    )
    .await
    .unwrap();
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

fn settings(dir: &std::path::Path, key: &str) -> std::path::PathBuf {
    let path = dir.join("sunlight.toml");
    std::fs::write(
        &path,
        format!(
            "[http]\ntls_cert_file = {:?}\ntls_key_file = {:?}\n\n[api]\n[[api.keys]]\nalgorithm = \"HS256\"\nsecret = \"{SECRET}\"\n",
            repo("tests/keys/tls-test-cert.pem"),
            repo(key),
        ),
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_and_api_are_served_over_tls_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = settings(dir.path(), "tests/keys/tls-test-key.pem");
    let cluster = MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let (input, warnings, dlq) = (unique("events"), unique("warnings"), unique("dlq"));
    for topic in [&input, &warnings, &dlq] {
        cluster.create_topic(topic, 1, 1).unwrap();
    }
    cluster.create_topic("sunlight.audit", 1, 1).unwrap();
    let mut command = Command::new(assert_cmd::cargo::cargo_bin("sunlight"));
    command
        .arg("run")
        .arg("--config")
        .arg(&config)
        .args(["--brokers", &brokers, "--group", &unique("group")])
        .args(["--input-topic", &input, "--warnings-topic", &warnings])
        .args(["--dlq-topic", &dlq, "--http-addr", "127.0.0.1:0", "--rules"])
        .arg(repo("rules/default.toml"));
    let (_engine, addr) = spawn_engine(command);

    let console = https_get(&addr, "/console/", None).await;
    assert!(console.starts_with("HTTP/1.1 200"), "{console}");
    let lower = console.to_ascii_lowercase();
    assert!(lower.contains("content-security-policy: default-src 'none'; script-src 'self'"));
    assert!(lower.contains("x-frame-options: deny"));

    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"sub": "tls-user", "exp": jsonwebtoken::get_current_timestamp() + 600, "regions": ["*"]}),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    let session = https_get(&addr, "/v1/session", Some(&token)).await;
    assert!(session.starts_with("HTTP/1.1 200"), "{session}");
    assert!(session.contains(r#""sub":"tls-user""#), "{session}");
    assert!(
        https_get(&addr, "/metrics", None)
            .await
            .starts_with("HTTP/1.1 200")
    );

    // Plain HTTP on the same port: no HTTP answer.
    let mut plain = std::net::TcpStream::connect(&addr).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET /console/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[test]
fn a_key_that_does_not_fit_is_refused_naming_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    // The RSA key of the API tests is not the certificate's key.
    let config = settings(
        dir.path(),
        "crates/sunlight-api/tests/keys/rs256-private.pem",
    );
    let out = sunlight()
        .args(["run", "--check", "--brokers", "localhost:9092", "--rules"])
        .arg(repo("rules/default.toml"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("http.tls_key_file"), "{err}");
    assert!(err.contains("does not fit http.tls_cert_file"), "{err}");
}
