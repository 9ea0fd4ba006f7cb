package classify

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"sort"
)

// classes is the order of the model's outputs.
var classes = [3]Sentiment{Positive, Negative, Neutral}

func classIndex(s Sentiment) int {
	for i, c := range classes {
		if c == s {
			return i
		}
	}
	return -1
}

// Model is a multinomial logistic regression over hashed features
// (features.go): one weight per feature and class.
type Model struct {
	w map[uint32][3]float32
}

// predict returns the class probabilities of a feature vector.
func (m *Model) predict(fs []feature) [3]float64 {
	var z [3]float64
	for _, f := range fs {
		w, ok := m.w[f.id]
		if !ok {
			continue
		}
		for k := range z {
			z[k] += float64(w[k] * f.value)
		}
	}
	return softmax(z)
}

func softmax(z [3]float64) [3]float64 {
	max := math.Max(z[0], math.Max(z[1], z[2]))
	var p [3]float64
	var sum float64
	for k := range z {
		p[k] = math.Exp(z[k] - max)
		sum += p[k]
	}
	for k := range p {
		p[k] /= sum
	}
	return p
}

// TrainOptions are the training hyper-parameters; zero values take the
// defaults the embedded model was trained with.
type TrainOptions struct {
	Epochs int     // passes over the examples (default 20)
	Rate   float64 // AdaGrad learning rate (default 0.1)
	L2     float64 // L2 penalty per example (default 1e-3)
	Seed   int64   // shuffle seed (default 1)
}

func (o TrainOptions) withDefaults() TrainOptions {
	if o.Epochs == 0 {
		o.Epochs = 20
	}
	if o.Rate == 0 {
		o.Rate = 0.1
	}
	if o.L2 == 0 {
		o.L2 = 1e-3
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	return o
}

// Train fits a model to labelled examples with the lexicon's features. It is
// deterministic: the same examples, lexicon and options give the same model.
func Train(examples []Example, lex *Lexicon, o TrainOptions) (*Model, error) {
	o = o.withDefaults()
	type row struct {
		fs []feature
		y  int
	}
	rows := make([]row, 0, len(examples))
	for _, e := range examples {
		y := classIndex(e.Label)
		if y < 0 {
			return nil, fmt.Errorf("classify: train: line %d: unknown label %q", e.Line, e.Label)
		}
		fs, _ := lex.features(e.Text)
		rows = append(rows, row{fs, y})
	}
	if len(rows) == 0 {
		return nil, errors.New("classify: train: no examples")
	}
	w := map[uint32]*[3]float64{}
	g := map[uint32]*[3]float64{} // AdaGrad's squared-gradient sums
	rnd := rand.New(rand.NewSource(o.Seed))
	order := make([]int, len(rows))
	for i := range order {
		order[i] = i
	}
	for epoch := 0; epoch < o.Epochs; epoch++ {
		rnd.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, i := range order {
			r := rows[i]
			var z [3]float64
			for _, f := range r.fs {
				if wf, ok := w[f.id]; ok {
					for k := range z {
						z[k] += wf[k] * float64(f.value)
					}
				}
			}
			p := softmax(z)
			for _, f := range r.fs {
				wf, ok := w[f.id]
				if !ok {
					wf, g[f.id] = &[3]float64{}, &[3]float64{}
					w[f.id] = wf
				}
				gf := g[f.id]
				for k := range wf {
					target := 0.0
					if k == r.y {
						target = 1
					}
					grad := (p[k]-target)*float64(f.value) + o.L2*wf[k]
					gf[k] += grad * grad
					wf[k] -= o.Rate * grad / (math.Sqrt(gf[k]) + 1e-8)
				}
			}
		}
	}
	m := &Model{w: make(map[uint32][3]float32, len(w))}
	for id, wf := range w {
		m.w[id] = [3]float32{float32(wf[0]), float32(wf[1]), float32(wf[2])}
	}
	return m, nil
}

// modelMagic starts an encoded model: the format and the feature space size,
// so a model trained for other features is refused instead of misread.
const modelMagic = "nudge-classify-v1"

// MarshalBinary encodes the model: the magic, the feature bits, the count,
// then (id uint32, 3 × float32) little-endian, sorted by id.
func (m *Model) MarshalBinary() ([]byte, error) {
	ids := make([]uint32, 0, len(m.w))
	for id := range m.w {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := make([]byte, 0, len(modelMagic)+8+16*len(ids))
	out = append(out, modelMagic...)
	out = binary.LittleEndian.AppendUint32(out, featureBits)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(ids)))
	for _, id := range ids {
		out = binary.LittleEndian.AppendUint32(out, id)
		for _, v := range m.w[id] {
			out = binary.LittleEndian.AppendUint32(out, math.Float32bits(v))
		}
	}
	return out, nil
}

// UnmarshalBinary decodes a model written by MarshalBinary.
func (m *Model) UnmarshalBinary(b []byte) error {
	if len(b) < len(modelMagic)+8 || string(b[:len(modelMagic)]) != modelMagic {
		return errors.New("classify: model: not a nudge-classify-v1 model (run go generate ./classify)")
	}
	b = b[len(modelMagic):]
	if bits := binary.LittleEndian.Uint32(b); bits != featureBits {
		return fmt.Errorf("classify: model: trained for %d feature bits, this build uses %d (run go generate ./classify)", bits, featureBits)
	}
	n := int(binary.LittleEndian.Uint32(b[4:]))
	b = b[8:]
	if len(b) != 16*n {
		return fmt.Errorf("classify: model: %d entries need %d bytes, have %d", n, 16*n, len(b))
	}
	m.w = make(map[uint32][3]float32, n)
	for i := 0; i < n; i++ {
		e := b[16*i:]
		m.w[binary.LittleEndian.Uint32(e)] = [3]float32{
			math.Float32frombits(binary.LittleEndian.Uint32(e[4:])),
			math.Float32frombits(binary.LittleEndian.Uint32(e[8:])),
			math.Float32frombits(binary.LittleEndian.Uint32(e[12:])),
		}
	}
	return nil
}
