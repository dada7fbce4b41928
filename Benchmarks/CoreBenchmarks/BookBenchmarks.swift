import Benchmark
import TickwireCore

func bookBenchmarks() {
}
