//! MaxPool on NCHW u8 activations. The maximum commutes with the (monotone) dequantization,
//! so tract runs it on the quantized values; padded positions never win.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxPool {
    pub c: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Padding at the top and left.
    pub pad: [usize; 2],
}

impl MaxPool {
    pub fn input_len(&self) -> usize {
        self.c * self.h_in * self.w_in
    }
    pub fn output_len(&self) -> usize {
        self.c * self.h_out * self.w_out
    }

    pub fn run(&self, x: &[u8], y: &mut [u8]) {
        let (hw_in, hw_out) = (self.h_in * self.w_in, self.h_out * self.w_out);
        for c in 0..self.c {
            let plane = &x[c * hw_in..(c + 1) * hw_in];
            for oy in 0..self.h_out {
                for ox in 0..self.w_out {
                    let mut m = 0u8;
                    for dy in 0..self.kernel[0] {
                        let iy = (oy * self.stride[0] + dy) as isize - self.pad[0] as isize;
                        if iy < 0 || iy as usize >= self.h_in {
                            continue;
                        }
                        for dx in 0..self.kernel[1] {
                            let ix = (ox * self.stride[1] + dx) as isize - self.pad[1] as isize;
                            if ix >= 0 && (ix as usize) < self.w_in {
                                m = m.max(plane[iy as usize * self.w_in + ix as usize]);
                            }
                        }
                    }
                    y[c * hw_out + oy * self.w_out + ox] = m;
                }
            }
        }
    }
}
