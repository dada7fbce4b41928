import Benchmark
import TickwireCore

func fixedPointBenchmarks() {
}
