module github.com/outrigger-dev/outrigger/hack/panels

go 1.26.8

require golang.org/x/image v0.48.0
