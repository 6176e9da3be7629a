//! The real `graph-emulator` binary, started as a user would start it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)] // test code

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> (Server, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_graph-emulator"))
        .args(["--listen", "127.0.0.1:0", "--json", "--throttle-scale", "0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    // The first line is printed once the server listens: no waiting needed.
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a line of JSON");
    (
        Server(child),
        serde_json::from_str(&line).expect("valid JSON"),
    )
}

#[tokio::test]
async fn serves_the_generated_tenants_it_prints() {
    let (_server, info) = spawn(&["--tenant", "contoso:tiny:1", "--tenant", "fabrikam:20:2"]);
    let url = info["url"].as_str().unwrap();
    let tenants = info["tenants"].as_array().unwrap();
    assert_eq!(tenants.len(), 2);
    let http = reqwest::Client::new();
    for (tenant, users) in tenants.iter().zip([10, 20]) {
        let form = [
            ("client_id", tenant["clientId"].as_str().unwrap()),
            ("client_secret", tenant["clientSecret"].as_str().unwrap()),
            ("scope", "https://graph.microsoft.com/.default"),
            ("grant_type", "client_credentials"),
        ];
        let token: Value = http
            .post(format!(
                "{url}/{}/oauth2/v2.0/token",
                tenant["tenantId"].as_str().unwrap()
            ))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list: Value = http
            .get(format!(
                "{}/users?$top=999",
                info["graphRoot"].as_str().unwrap()
            ))
            .bearer_auth(token["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["value"].as_array().unwrap().len(), users);
    }
}

#[test]
fn a_bad_tenant_argument_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_graph-emulator"))
        .args(["--listen", "127.0.0.1:0", "--tenant", "contoso:gigantic"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid --tenant"), "{stderr}");
    assert!(stderr.contains("gigantic"), "{stderr}");
    assert!(
        stderr.contains("tiny, small, medium, large, L100k"),
        "{stderr}"
    );
}

#[test]
fn a_busy_port_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_graph-emulator"))
        .args(["--listen", &addr, "--tenant", "contoso:tiny"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&addr), "{stderr}");
}
