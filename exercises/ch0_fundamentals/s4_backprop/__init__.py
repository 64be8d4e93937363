"""Section 0.4: backpropagation and an autograd engine of your own."""
