module github.com/daxkv/daxkv

go 1.25.0
