import Benchmark
import TickwireCore

func wireBenchmarks() {
}
