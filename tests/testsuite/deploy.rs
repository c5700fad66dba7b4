//! The deployment files: what can be validated without a container engine.
//! Prometheus config and alert rules pass promtool; compose, Kubernetes and Grafana
//! files parse and refer to files, ports and names that exist; the Kubernetes
//! settings pass `sunlight run --check`. (Every metric the alerts and the dashboard
//! query is checked against a live scrape in `metrics.rs`.)

use std::process::Command;

use serde_norway::Value;

use crate::support::{repo, sunlight};

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid YAML: {e}"))
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .expect("promtool (scripts/install-tools.sh installs it)");
    assert!(
        out.status.success(),
        "promtool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn prometheus_config_and_alert_rules_pass_promtool() {
    let config = repo("deploy/prometheus/prometheus.yml");
    let rules = repo("deploy/prometheus/alerts.yml");
    promtool(&["check", "config", config.to_str().unwrap()]);
    promtool(&["check", "rules", rules.to_str().unwrap()]);
    let alerts: Vec<String> = yaml("deploy/prometheus/alerts.yml")["groups"][0]["rules"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_string())
        .collect();
    let operations = std::fs::read_to_string(repo("docs/OPERATIONS.md")).unwrap();
    for alert in &alerts {
        assert!(
            operations.contains(&format!("### {alert}")),
            "docs/OPERATIONS.md does not explain {alert}"
        );
    }
    assert_eq!(alerts.len(), 13);
}

#[test]
fn compose_stack_refers_to_files_ports_and_services_that_exist() {
    let compose = yaml("docker-compose.yml");
    let services = compose["services"].as_mapping().unwrap();
    let names: Vec<&str> = services.keys().map(|k| k.as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "kafka",
            "topics",
            "sunlight",
            "generator",
            "prometheus",
            "grafana"
        ]
    );
    for (name, service) in services {
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let host = volume.as_str().unwrap().split(':').next().unwrap();
            assert!(
                repo(host).exists(),
                "{name:?}: volume source {host} missing"
            );
        }
        if let Some(dockerfile) = service["build"]["dockerfile"].as_str() {
            assert!(repo(dockerfile).is_file(), "{name:?}: {dockerfile} missing");
        }
    }
    let sunlight = &compose["services"]["sunlight"];
    assert_eq!(sunlight["ports"][0].as_str(), Some("9464:9464"));
    assert_eq!(
        sunlight["environment"]["SUNLIGHT__HTTP__ADDR"].as_str(),
        Some("0.0.0.0:9464")
    );
    assert_eq!(
        sunlight["environment"]["SUNLIGHT__KAFKA__BROKERS"].as_str(),
        Some("kafka:9092")
    );
    assert!(
        compose["services"]["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
            .as_str()
            .unwrap()
            .contains("INTERNAL://kafka:9092")
    );
    assert_eq!(
        compose["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"].as_str(),
        Some("broker,controller"),
        "KRaft mode"
    );
    let topics_script = compose["services"]["topics"]["command"][0]
        .as_str()
        .unwrap();
    for topic in ["sunlight.events", "sunlight.warnings", "sunlight.dlq"] {
        assert!(topics_script.contains(topic), "{topic} is not created");
    }

    let prometheus = yaml("deploy/prometheus/prometheus.yml");
    assert_eq!(
        prometheus["scrape_configs"][0]["static_configs"][0]["targets"][0].as_str(),
        Some("sunlight:9464")
    );
    let datasource = yaml("deploy/grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(
        datasource["datasources"][0]["url"].as_str(),
        Some("http://prometheus:9090")
    );
    assert_eq!(
        compose["services"]["prometheus"]["ports"][0].as_str(),
        Some("9090:9090")
    );
    let provider = yaml("deploy/grafana/provisioning/dashboards/sunlight.yml");
    assert_eq!(
        provider["providers"][0]["options"]["path"].as_str(),
        Some("/var/lib/grafana/dashboards")
    );
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo("deploy/grafana/dashboards/sunlight.json")).unwrap(),
    )
    .expect("dashboard JSON");
    assert!(dashboard["panels"].as_array().unwrap().len() >= 10);

    let dockerfile = std::fs::read_to_string(repo("deploy/Dockerfile")).unwrap();
    for needed in [
        "EXPOSE 9464",
        "USER 10001",
        "http://127.0.0.1:9464/healthz",
        "SUNLIGHT__HTTP__ADDR=0.0.0.0:9464",
    ] {
        assert!(dockerfile.contains(needed), "Dockerfile lacks {needed}");
    }
    for line in dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && !l.contains("--from"))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        for source in &words[1..words.len() - 1] {
            assert!(repo(source).exists(), "Dockerfile copies missing {source}");
        }
    }
}

#[test]
fn kubernetes_manifests_agree_with_each_other_and_the_binary() {
    let kustomization = yaml("deploy/k8s/kustomization.yaml");
    let resources: Vec<&str> = kustomization["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(
        resources,
        [
            "configmap.yaml",
            "deployment.yaml",
            "service.yaml",
            "pdb.yaml"
        ]
    );
    let config = yaml("deploy/k8s/configmap.yaml");
    let deployment = yaml("deploy/k8s/deployment.yaml");
    let service = yaml("deploy/k8s/service.yaml");
    let pdb = yaml("deploy/k8s/pdb.yaml");
    assert_eq!(deployment["kind"].as_str(), Some("Deployment"));
    assert_eq!(pdb["kind"].as_str(), Some("PodDisruptionBudget"));

    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);

    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["ports"][0]["name"].as_str(), Some("metrics"));
    assert_eq!(container["ports"][0]["containerPort"].as_u64(), Some(9464));
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["port"].as_str(),
        Some("metrics")
    );
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"].as_str(),
        Some("metrics")
    );
    let volume = &deployment["spec"]["template"]["spec"]["volumes"][0];
    assert_eq!(volume["configMap"]["name"], config["metadata"]["name"]);
    let mount = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
    let config_arg = container["args"][2].as_str().unwrap();
    assert_eq!(config_arg, format!("{mount}/sunlight.toml"));
    let grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();

    // The settings in the ConfigMap are valid for `sunlight run` and serve on the
    // probed port; shutdown fits in the grace period. (The pack path in the file is
    // the image's; the environment points it at the repository's copy.)
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sunlight.toml");
    std::fs::write(&file, config["data"]["sunlight.toml"].as_str().unwrap()).unwrap();
    let out = sunlight()
        .args(["run", "--check", "--config"])
        .arg(&file)
        .env("SUNLIGHT__ENGINE__RULES", repo("rules/default.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("http 0.0.0.0:9464"), "{stdout}");
    assert!(stdout.contains("pack `default`"), "{stdout}");
    assert!(
        grace > 10,
        "terminationGracePeriodSeconds {grace} <= shutdown_timeout 10s"
    );
}
