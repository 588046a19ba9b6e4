import Grad
