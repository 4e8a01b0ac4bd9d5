# A system job: one allocation on every eligible node.
job "node-web" {
  datacenters = ["*"]
  type        = "system"

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  group "web" {
    network {
      port "http" {}
    }

    task "httpd" {
      driver = "container"

      config {
        image   = "busybox:1.35"
        command = "httpd"
        args    = ["-f", "-p", "${NOMAD_PORT_http}", "-h", "/local"]
        ports   = ["http"]
      }

      template {
        destination = "local/index.html"
        data        = <<-EOT
          <p>node ${node.unique.name}, alloc {{ env "NOMAD_ALLOC_ID" }}</p>
        EOT
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
