/// `conv1d`: a composition of other ops, shared by the parser and the library.
extension GraphBuilder {
    /// conv1d(x, w): x[N,C,W] (NCW) correlated with w[O,C,K] (OIW) — a `conv2d` with a unit
    /// height between reshapes (which cost nothing): x → [N,C,1,W], w → [O,C,1,K], stride
    /// [1,s], padding [0,p], dilation [1,d], and the result [N,O,1,OW] → [N,O,OW]. Its
    /// derivatives are conv2d's.
    public mutating func conv1d(_ x: ValueID, _ w: ValueID, stride: Int, padding: Int, dilation: Int) throws(Diagnostic) -> ValueID {
        let (xt, wt) = (type(of: x), type(of: w))
        guard xt.rank == 3, wt.rank == 3 else {
            throw Diagnostic(.invalidOperand(op: "conv1d", "expects x[N,C,W] (NCW) and w[O,C,K] (OIW), got \(xt) and \(wt)"), at: location)
        }
        let x2 = try reshape(x, [xt.shape[0], xt.shape[1], 1, xt.shape[2]])
        let w2 = try reshape(w, [wt.shape[0], wt.shape[1], 1, wt.shape[2]])
        let attrs = Attributes([.stride: .ints([1, stride]), .padding: .ints([0, padding]), .dilation: .ints([1, dilation])])
        let y = try add(.conv2d, [x2, w2], attrs)
        let yt = type(of: y)
        return try reshape(y, [yt.shape[0], yt.shape[1], yt.shape[3]])
    }
}
