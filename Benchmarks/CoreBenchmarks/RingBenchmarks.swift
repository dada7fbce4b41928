import Benchmark
import TickwireCore

func ringBenchmarks() {
}
