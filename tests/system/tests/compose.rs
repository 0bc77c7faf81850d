//! The compose file describes the whole stack and validates with docker-compose.

use std::process::Command;

fn compose(args: &[&str]) -> String {
    let file = sysops_platform::repo::path("docker-compose.yml");
    let out = Command::new("docker-compose")
        .arg("-f")
        .arg(file)
        .args(args)
        // The secrets the file requires, as an operator would export them.
        .env("JWT_SECRET", "0123456789abcdef0123456789abcdef")
        .env("ADMIN_PASSWORD", "a long enough password")
        .output()
        .expect("docker-compose is installed (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "docker-compose {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_compose_file_is_valid_and_has_every_service() {
    compose(&["config", "-q"]);
    let mut services: Vec<String> = compose(&["config", "--services"])
        .lines()
        .map(str::to_owned)
        .collect();
    services.sort();
    assert_eq!(
        services,
        [
            "analytics",
            "categorizer",
            "gateway",
            "postgres",
            "rabbitmq",
            "routing",
            "tickets"
        ]
    );
}

#[test]
fn the_categorizer_can_be_scaled() {
    let config = compose(&["config"]);
    let after = config
        .split("\n  categorizer:\n")
        .nth(1)
        .expect("a categorizer service");
    let block = after
        .lines()
        .take_while(|l| l.starts_with("    "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !block.contains("container_name"),
        "a fixed container name prevents --scale"
    );
    assert!(
        !block.contains("published"),
        "a published host port prevents --scale"
    );
    assert!(block.contains("healthcheck"), "{block}");
}
