module caisse/bench/loadgen

go 1.22
